package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/admin"
	"pandav/internal/admin/admintest"
)

// GET mounts says a mount is throttled until the wait the cloud asked
// for has passed.
func TestThrottledUntil(t *testing.T) {
	d, err := admintest.Open(context.Background(), drivers.Env{MountPath: "/a", StateDir: t.TempDir()}, admintest.Options{Account: newAccount(t, "a").Key()})
	if err != nil {
		t.Fatal(err)
	}
	svc := admin.NewService([]admin.Mount{{Path: "/a", Driver: admintest.Driver, Drive: d}}, zerolog.Nop())
	defer svc.Close()
	throttled := func() *time.Time {
		infos, _ := svc.Mounts(context.Background())
		return infos[0].ThrottledUntil
	}
	if got := throttled(); got != nil {
		t.Fatalf("throttled before anything: %v", got)
	}
	until := time.Now().Add(time.Minute)
	svc.NoteThrottled("/a", until)
	svc.NoteThrottled("/a", time.Now().Add(2*time.Second)) // a shorter wait does not end a longer one
	if got := throttled(); got == nil || !got.Equal(until) {
		t.Errorf("throttled until %v, want %v", got, until)
	}
	svc.NoteThrottled("/b", time.Now().Add(time.Hour)) // another mount's
	d2, _ := admintest.Open(context.Background(), drivers.Env{MountPath: "/c", StateDir: t.TempDir()}, admintest.Options{Account: newAccount(t, "c").Key()})
	svc2 := admin.NewService([]admin.Mount{{Path: "/c", Driver: admintest.Driver, Drive: d2}}, zerolog.Nop())
	defer svc2.Close()
	svc2.NoteThrottled("/c", time.Now().Add(-time.Minute)) // a hint already past marks it for a while
	infos, _ := svc2.Mounts(context.Background())
	if got := infos[0].ThrottledUntil; got == nil || time.Until(*got) < 29*time.Second {
		t.Errorf("a past hint marks the mount until %v", got)
	}
}
