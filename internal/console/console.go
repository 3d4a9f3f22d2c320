// Package console is pandav's web pages: the folders of the WebDAV tree
// as a browser sees them (webdav.FolderPage), the sign-in form, and the
// admin pages under /.pandav/ (mounts and their logins, cloud download,
// share links), which work over the admin API (docs/admin-api.md). The
// pages are html/template and plain JavaScript files, both embedded; no
// page has inline script, and the Content-Security-Policy says so
// (docs/DESIGN.md, the console).
package console

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/skip2/go-qrcode"

	"pandav/internal/admin"
	"pandav/internal/auth"
)

// Root is where the console's pages live. The admin API is under it too,
// at admin.Root, and is not the console's.
const Root = "/.pandav/"

// SignInPath is the sign-in form, which auth.Options.SignInPage names.
const SignInPath = Root + "signin"

// IsConsolePath says whether the path p is one of the console's. The
// console owns only its own names under /.pandav/: the admin API, the
// drivers' routes (drivers.RoutePrefix), the signed .strm links and the
// health check live there too.
func IsConsolePath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/.pandav")
	if !ok {
		return false
	}
	switch rest {
	case "", "/", "/signin", "/signout", "/mounts", "/downloads", "/shares":
		return true
	}
	return strings.HasPrefix(rest, "/static/") || strings.HasPrefix(rest, "/qr/")
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// csp lets the pages run only pandav's own script files: no inline
// script, no eval, nothing from elsewhere, and no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Console serves the pages.
type Console struct {
	api  admin.API
	gate *auth.Gate // nil when pandav has no users
	log  zerolog.Logger
	// pages are the templates, by page name, each with the layout.
	pages  map[string]*template.Template
	static http.Handler
}

// New serves the console over api. gate is nil when pandav has no users:
// then the admin pages answer this machine's own clients only, as the
// admin API does.
func New(api admin.API, gate *auth.Gate, log zerolog.Logger) *Console {
	c := &Console{api: api, gate: gate, log: log, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{"static": staticURL}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	for _, name := range []string{"files", "signin", "mounts", "downloads", "shares", "refused"} {
		c.pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFiles, "templates/"+name+".html"))
	}
	sub, _ := fs.Sub(staticFiles, "static")
	c.static = http.StripPrefix(Root+"static/", http.FileServer(http.FS(sub)))
	return c
}

// started names this build's static files, so that a browser fetches
// them anew after an upgrade but caches them meanwhile.
var started = time.Now().Format("20060102150405")

func staticURL(name string) string { return Root + "static/" + name + "?v=" + started }

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the page's name, for the menu
	User  string
	Token string // the session's CSRF token; "" without a session
	// Session says the user signed in by the form (and may sign out).
	Session bool
	// Admin says the user may see the admin pages.
	Admin bool
	Data  any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	secureHeaders(w.Header())
	if c.gate != nil {
		if u, token, ok := c.gate.Session(r); ok {
			p.User, p.Token, p.Session = u.Name, token, true
		}
	}
	if u := auth.FromContext(r.Context()); u != nil {
		p.User, p.Admin = u.Name, u.Admin
	} else if c.gate == nil {
		p.Admin = admin.NotLocal(r) == ""
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.log.Error().Err(err).Str("page", name).Msg("drawing a console page")
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// secureHeaders are on every page: the CSP, no sniffing, no framing, no
// caching of what may hold a CSRF token or a login's state.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/.pandav"), "/")
	switch {
	case strings.HasPrefix(rest, "static/"):
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		c.static.ServeHTTP(w, r)
		return
	case rest == "signin":
		c.signIn(w, r)
		return
	case rest == "signout":
		c.signOut(w, r)
		return
	}
	r, ok := c.admitAdmin(w, r)
	if !ok {
		return
	}
	switch {
	case rest == "":
		http.Redirect(w, r, Root+"mounts", http.StatusSeeOther)
	case rest == "mounts" || rest == "downloads" || rest == "shares":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		titles := map[string]string{"mounts": "Mounts", "downloads": "Cloud download", "shares": "Share links"}
		c.render(w, r, http.StatusOK, rest, page{Title: titles[rest], Nav: rest})
	case strings.HasPrefix(rest, "qr/") && strings.HasSuffix(rest, ".png"):
		c.qr(w, r, strings.TrimSuffix(strings.TrimPrefix(rest, "qr/"), ".png"))
	default:
		http.NotFound(w, r)
	}
}

// admitAdmin lets an admin in by the admin API's rule (admin.Admit),
// with the user in the returned request's context, or answers as a page:
// a browser without credentials goes to the sign-in form, anyone else
// refused gets the reason.
func (c *Console) admitAdmin(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	var gate admin.Authenticator
	if c.gate != nil {
		gate = c.gate
	}
	r, refused := admin.Admit(gate, r, "the console", c.log)
	switch {
	case refused == nil:
		return r, true
	case refused.Status == http.StatusUnauthorized && r.Method == http.MethodGet:
		http.Redirect(w, r, SignInPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	case refused.Status == http.StatusForbidden:
		c.render(w, r, http.StatusForbidden, "refused", page{Title: "Not allowed", Data: refused.Msg + ". The files are at /."})
	default:
		refused.Header(w.Header())
		secureHeaders(w.Header())
		http.Error(w, refused.Msg, refused.Status)
	}
	return r, false
}

// signIn shows the form (GET) and checks it (POST), under the same
// per-address limit as Basic credentials.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	next := safeNext(r.FormValue("next"))
	if c.gate == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	type form struct{ Next, Name, Error string }
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		c.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Data: form{Next: next}})
	case http.MethodPost:
		// A sign-in posted from another site would sign the browser in
		// as someone else.
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
			http.Error(w, "a sign-in from another site is refused", http.StatusForbidden)
			return
		}
		name := r.PostFormValue("user")
		_, refused := c.gate.SignIn(w, r, name, r.PostFormValue("password"))
		if refused != nil {
			refused.Header(w.Header())
			w.Header().Del("WWW-Authenticate")
			c.render(w, r, refused.Status, "signin", page{Title: "Sign in", Data: form{Next: next, Name: name, Error: refused.Msg}})
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// signOut ends the session: a POST with the session's token, so that a
// page elsewhere cannot sign the user out.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if c.gate != nil {
		if _, token, ok := c.gate.Session(r); ok {
			if !auth.TokenOK(r, token) {
				http.Error(w, "signing out needs the page's CSRF token; reload the page", http.StatusForbidden)
				return
			}
			c.gate.SignOut(w, r)
		}
	}
	http.Redirect(w, r, SignInPath, http.StatusSeeOther)
}

func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// safeNext keeps a redirect after sign-in on this site: a path, never
// another host. Browsers read a backslash as a slash and drop tabs and
// newlines, so "/\\host" and "/\t/host" would leave the site: any of them,
// or any other control character, sends the browser home instead.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, c := range next {
		if c == '\\' || c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	return next
}

// qr draws a login's code as a PNG. The code is a secret of the login:
// the admin API hands it only to the admin who started the login, and
// so does this, asking the API as that admin.
func (c *Console) qr(w http.ResponseWriter, r *http.Request, id string) {
	w.Header().Set("Cache-Control", "no-store")
	l, err := c.api.Login(r.Context(), id, "", 0)
	if err != nil || l.QR == "" {
		http.Error(w, "no such login, or it has ended", http.StatusNotFound)
		return
	}
	png, err := qrcode.Encode(l.QR, qrcode.Medium, 320)
	if err != nil {
		http.Error(w, "the code could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(png)
}

// escapedPath is p as a URL path, each segment escaped.
func escapedPath(p string) string {
	return (&url.URL{Path: path.Clean("/" + p)}).EscapedPath()
}
