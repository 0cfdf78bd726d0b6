package dashboard_test

import (
	"os"
	"os/signal"
	"testing"
)

// TestServe is a tool, not a test: with ENCOURS_DASHBOARD_SERVE set it serves the test
// daemon (demo portfolio, IBM sample, alerts, clock at the demo's end) until interrupted, to
// work on the dashboard in a real browser:
//
//	ENCOURS_DASHBOARD_SERVE=1 go test ./handlers/dashboard -run TestServe -v -timeout 0
func TestServe(t *testing.T) {
	if os.Getenv("ENCOURS_DASHBOARD_SERVE") == "" {
		t.Skip("set ENCOURS_DASHBOARD_SERVE=1 to serve the dashboard over the test daemon")
	}
	d := startDaemon(t, withAlerts)
	t.Logf("dashboard at %s/ — token %s — Ctrl-C to stop", d.URL, d.Token)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	defer signal.Stop(stop)
	<-stop // until the developer interrupts
}
