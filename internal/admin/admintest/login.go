package admintest

import (
	"context"
	"fmt"
	"time"

	"pandav/internal/admin"
)

// DriveLogin logs mount in through api, as `pandav login` does: it starts
// a login, hands its QR code to confirm, which plays the user (scanning
// and confirming in the cloud's app, or in its emulator), and follows the
// login until it ends. It returns the last Login, and an error unless the
// login finished.
func DriveLogin(ctx context.Context, api admin.API, mount string, confirm func(qr string) error) (admin.Login, error) {
	l, err := api.StartLogin(ctx, mount, "")
	if err != nil {
		return l, err
	}
	if l.QR == "" {
		return l, fmt.Errorf("login %s of %s came without a QR code", l.ID, mount)
	}
	if err := confirm(l.QR); err != nil {
		api.CancelLogin(ctx, l.ID)
		return l, fmt.Errorf("confirming the login of %s: %w", mount, err)
	}
	for !admin.Ended(l.State) {
		if l, err = api.Login(ctx, l.ID, l.State, 10*time.Second); err != nil {
			return l, err
		}
	}
	if l.State != admin.StateFinished {
		return l, fmt.Errorf("the login of %s ended %s: %s", mount, l.State, l.Error)
	}
	return l, nil
}
