package dashboard_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/alerting"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/httpapi"
)

// wireAlerting wires handlers/alerting into the test daemon as the daemon does: the
// evaluator and the delivery follow the log (their goroutines join wg and end with ctx), and
// their routes are API extras. It returns the routes and a settle function that waits until
// everything appended so far is evaluated, after a tick at today.
func wireAlerting(ctx context.Context, t testing.TB, wg *sync.WaitGroup, store *embedded.Store, dir string, today func() domain.Date) ([]httpapi.Extra, func(context.Context) error) {
	t.Helper()
	ev := alerting.NewEvaluator(store, alerting.EvaluatorOptions{Today: today})
	dl, err := alerting.OpenDelivery(ctx, store, alerting.DeliveryOptions{Dir: dir, Today: today})
	require.NoError(t, err)
	wg.Add(2)
	go func() { defer wg.Done(); _ = ev.Run(ctx) }() // ends with ctx
	go func() { defer wg.Done(); _ = dl.Run(ctx) }() // ends with ctx
	perms := map[string]auth.Permission{alerting.RoleReader: auth.PermRead, alerting.RoleCreditManager: auth.PermCredit}
	var extra []httpapi.Extra
	for _, r := range alerting.Routes(ev, dl, alerting.RoutesOptions{}) {
		perm, ok := perms[r.Role]
		require.True(t, ok, "role %s", r.Role)
		x := httpapi.Extra{Pattern: r.Method + " " + r.Pattern, Permission: perm, Handler: http.HandlerFunc(r.Handler), Summary: r.Pattern, Tag: "alerts",
			PathExamples: map[string]string{"id": "x"}}
		if r.Method == http.MethodPost {
			x.Body, x.Example = map[string]any{"type": "object"}, "{}"
		}
		extra = append(extra, x)
	}
	settle := func(ctx context.Context) error {
		head, err := store.Head(ctx)
		if err != nil {
			return err
		}
		if err := ev.WaitFor(ctx, head.Position); err != nil {
			return err
		}
		return ev.Tick(ctx, today())
	}
	return extra, settle
}
