package admin

import "net/http"

// NotLocal says why r does not come from this machine, or "" when it
// does, by the rule the admin API keeps when pandav has no users: the
// web console's admin pages keep the same one.
func NotLocal(r *http.Request) string { return notLocal(r) }
