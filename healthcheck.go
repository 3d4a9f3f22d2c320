package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"pandav/config"
	"pandav/internal/app"
)

// healthTimeout stays under the image's HEALTHCHECK --timeout (5s), so
// that the probe's own message, not Docker's kill, ends up in the health
// log.
const healthTimeout = 4 * time.Second

// cmdHealthcheck exits 0 when the server answers its health path. With -c
// the URL comes from the config the server runs with, so a changed port or
// TLS needs no change to the image's HEALTHCHECK; --url keeps the older
// form (OPTIONS on any URL, healthy below 500) working.
func cmdHealthcheck(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var configPath string
	fs.StringVar(&configPath, "c", "", "the configuration file the server runs with")
	fs.StringVar(&configPath, "config", "", "the configuration file the server runs with")
	listen := fs.String("listen", "", "the --listen the server was started with, overriding the config's listen")
	url := fs.String("url", "", "probe this URL instead of the config's (OPTIONS, healthy below 500)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pandav healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if configPath != "" && *url != "" {
		fmt.Fprintln(stderr, "pandav healthcheck: give -c or --url, not both")
		return 2
	}
	if configPath == "" {
		if *url == "" {
			*url = "http://127.0.0.1:8080/"
		}
		return probe(http.MethodOptions, *url, false, func(code int) bool { return code < 500 }, stderr)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "unhealthy: %s: %v\n", configPath, err)
		return 1
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	target, err := healthURL(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "unhealthy: %v\n", err)
		return 1
	}
	return probe(http.MethodGet, target, cfg.TLS.Cert != "", func(code int) bool { return code == http.StatusOK }, stderr)
}

// healthURL is where a server running with cfg answers its health check,
// seen from the same machine (or container).
func healthURL(cfg *config.Config) (string, error) {
	base, err := cfg.URL()
	if err != nil {
		return "", err
	}
	return base + app.HealthPaths[0], nil
}

// probe sends one request and reports whether healthy accepts its status.
func probe(method, target string, insecureTLS bool, healthy func(int) bool, stderr io.Writer) int {
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "pandav healthcheck: %v\n", err)
		return 2
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if insecureTLS {
		// The probe asks whether this process answers, not whether its
		// certificate suits a client: a self-signed certificate, or one
		// issued for the public name, is not "unhealthy" on loopback.
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	client := &http.Client{Timeout: healthTimeout, Transport: transport}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "unhealthy: %v\n", strings.TrimSpace(err.Error()))
		return 1
	}
	resp.Body.Close()
	if !healthy(resp.StatusCode) {
		fmt.Fprintf(stderr, "unhealthy: %s %s: %s\n", method, target, resp.Status)
		return 1
	}
	return 0
}
