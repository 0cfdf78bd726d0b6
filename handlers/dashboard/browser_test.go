package dashboard_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The browser tests drive a real headless Chromium (Debian's chromium package) through the
// DevTools protocol with chromedp, against the test daemon of server_test.go. They read the
// API themselves with net/http and compare its figures to what the page shows; the page puts
// each figure's exact integer in a <data value> next to the text people read.

var update = flag.Bool("update", false, "rewrite the screenshots in testdata/screenshots")

// chromiumMissing is the skip (or, under CI, failure) message when no browser is found.
const chromiumMissing = "headless Chromium: install Debian's chromium package (apt-get install chromium) or set ENCOURS_CHROMIUM"

// Browser limits.
const (
	// browserWaitMax bounds every wait for the page (a page's data, a click's effect).
	browserWaitMax = 30 * time.Second
	// viewport: a laptop screen; screenshots are full pages at this width.
	viewportWidth, viewportHeight = 1366, 900
)

// chromiumPath returns the browser to drive: $ENCOURS_CHROMIUM, else /usr/bin/chromium. It
// skips the test when there is none, or fails it under CI (CI=true), where a missing
// browser is a broken runner, not a developer's machine.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("ENCOURS_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: not skipped): %v", chromiumMissing, err)
		}
		t.Skip(chromiumMissing)
	}
	return p
}

// browser is one Chromium with one tab, and what its pages reported that they should not
// have: uncaught exceptions and console errors.
type browser struct {
	t     *testing.T
	ctx   context.Context
	d     *daemon
	shots string

	mu       sync.Mutex
	problems []string
}

// newBrowser starts Chromium with a fresh profile; it stops at the test's cleanup.
func newBrowser(t *testing.T, d *daemon) *browser {
	t.Helper()
	exe := chromiumPath(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// /dev/shm is 64 MiB in containers; Chromium crashes on large pages without this.
		chromedp.Flag("disable-dev-shm-usage", true),
		// Number and date formats in en-US, whatever the machine's locale.
		chromedp.Flag("lang", "en-US"),
		chromedp.Env("LANG=en_US.UTF-8", "TZ=UTC"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportWidth, viewportHeight),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, d: d, shots: screenshotDir(t)}
	// Start the browser (the first Run allocates it) with no timeout on this context.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "start %s", exe)
	messages := chromedp.Console(ctx)
	go func() { // ends when ctx is cancelled at cleanup
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source == "") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// screenshotDir is where screenshots go: testdata/screenshots with -update (committed, the
// README's pictures), else $ENCOURS_ARTIFACTS (CI keeps them), else a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if *update {
		dir := filepath.Join("testdata", "screenshots")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	if dir := os.Getenv("ENCOURS_ARTIFACTS"); dir != "" {
		dir = filepath.Join(dir, "dashboard-screenshots")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.TempDir()
}

// takeProblems returns (and forgets) the exceptions and console errors seen so far.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// do runs actions with a deadline.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWaitMax)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

// eval evaluates a JavaScript expression in the page and decodes its value into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWaitMax)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(b.t, err, "evaluate %s", expr)
	return v
}

// waitFor waits until a JavaScript expression is truthy.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWaitMax+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserWaitMax)))
	if err != nil {
		state := eval[string](b, `(document.getElementById('main')||{}).innerText?.slice(0, 600) || ''`)
		box := eval[string](b, `(() => { const d = document.getElementById('token-dialog'); return d ? 'open=' + d.open + ' reason=' + JSON.stringify(document.getElementById('token-reason').textContent) : ''; })()`)
		b.t.Fatalf("waiting for %s (%s): %v\npage says: %s\ntoken box: %s\nproblems: %q", what, expr, err, state, box, b.takeProblems())
	}
}

// waitReady waits until page name has rendered everything for asOf.
func (b *browser) waitReady(name, asOf string) {
	b.t.Helper()
	b.waitFor(name+" page as of "+asOf, fmt.Sprintf(`(() => { const m = document.getElementById('main'); return m && ((m.dataset.ready === %q && m.dataset.asOf === %q) || m.dataset.ready === 'error'); })()`, name, asOf))
	if eval[string](b, `document.getElementById('main').dataset.ready`) == "error" {
		b.t.Fatalf("the %s page failed: %s", name, eval[string](b, `document.getElementById('main').innerText`))
	}
}

// open navigates the tab to a hash route of the dashboard.
func (b *browser) open(hash string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.location.hash = %q`, hash)))
}

// screenshot saves a full-page PNG as name.png.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWaitMax)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	if *update {
		shot = readmeCut(b.t, shot)
	}
	path := filepath.Join(b.shots, name+".png")
	require.NoError(b.t, os.WriteFile(path, shot, 0o644))
	b.t.Logf("screenshot %s (%d KiB)", path, len(shot)>>10)
	return path
}

// readmeHeightMax is the height of the committed screenshots (the README's pictures): the
// top of each page, which is what a reader looks at; the artifacts keep whole pages.
const readmeHeightMax = 2800

// readmeCut cuts a PNG to readmeHeightMax pixels high and compresses it as well as the
// standard library can.
func readmeCut(t *testing.T, shot []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	r := img.Bounds()
	if r.Dy() > readmeHeightMax {
		r.Max.Y = r.Min.Y + readmeHeightMax
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	require.True(t, ok, "a %T cannot be cut", img)
	var out bytes.Buffer
	require.NoError(t, (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, sub.SubImage(r)))
	return out.Bytes()
}

// noProblems fails the test on any exception or console error the pages raised.
func (b *browser) noProblems() {
	b.t.Helper()
	if p := b.takeProblems(); len(p) > 0 {
		b.t.Errorf("the page reported %d problems:\n%s", len(p), strings.Join(p, "\n"))
	}
}

// TestBrowser is journey 1 in a real browser (design: the first ten minutes): open the
// dashboard, enter the token, see total exposure, aging, the DSO trend and the open alerts
// with their reasons, click the riskiest customer and read its story. Then the customers
// list and its pages, acknowledging an alert by a click, an alert arriving live, the as-of
// date, a refused token, escaping of hostile names, and a portfolio in two currencies. Each
// step compares what the page shows with what the API answers, read here with net/http.
// The steps share one daemon and one browser (starting them is most of the cost) and run
// in order: the later ones change the log.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped under -short")
	}
	chromiumPath(t) // skip (or fail under CI) before loading a daemon for nothing
	start := time.Now()
	d := startDaemon(t, withAlerts)
	b := newBrowser(t, d)
	t.Logf("daemon and browser started in %s", time.Since(start).Round(time.Millisecond))
	today := d.Today.String()

	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow() // later steps build on this one
		}
	}

	step("token box", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Navigate(d.URL + "/"))
		b.waitFor("the token box", `document.getElementById('token-dialog').open && document.activeElement.id === 'token-input'`)
		// Typed and sent with the keyboard.
		b.do(chromedp.KeyEvent(d.Token + "\r"))
		b.waitReady("overview", today)
		assert.Equal(t, d.Token, eval[string](b, `sessionStorage.getItem('encours.token')`))
		assert.False(t, eval[bool](b, `document.getElementById('token-dialog').open`))
	})

	var riskiestID string
	step("overview", func(t *testing.T) {
		b.t = t
		var pf portfolioAnswer
		d.get(t, "/v1/portfolio", nil, &pf)
		require.NotNil(t, pf.Data.Figures, "the test portfolio is in one currency")
		checkKPIs(t, b, ".kpis", *pf.Data.Figures)
		checkAging(t, b, `[data-table="aging"]`, *pf.Data.Figures)
		checkTrend(t, b, d, today)
		checkConcentration(t, b, pf)
		riskiestID = checkAlertsPanel(t, b, d)
		b.waitFor("the live alert stream", `document.querySelector('[data-live-state="live"]') !== null`)
		checkContrast(t, b)
		b.screenshot("overview")
	})

	step("riskiest customer", func(t *testing.T) {
		b.t = t
		b.clickAndWait(`[data-list="riskiest"] li:first-child a.customer-link`, "customer", today)
		assert.Equal(t, "#/customers/"+riskiestID, eval[string](b, `window.location.hash`))
		checkCustomer(t, b, d, riskiestID, today)
		checkCustomerHistory(t, b, d, riskiestID, today)
		checkContrast(t, b)
		b.screenshot("customer")
	})

	step("customers", func(t *testing.T) {
		b.t = t
		b.clickAndWait(`nav a[data-nav="customers"]`, "customers", today)
		checkCustomerRows(t, b, d, fmtQ("sort", "exposure", "limit", "50"))
		checkContrast(t, b)
		b.screenshot("customers")
		b.clickAndWait(`[data-pager="next"]`, "customers", today)
		checkCustomerRows(t, b, d, fmtQ("sort", "exposure", "limit", "50", "offset", "50"))
		b.clickAndWait(`th a.sort[href*="sort=id"]`, "customers", today)
		checkCustomerRows(t, b, d, fmtQ("sort", "id", "limit", "50"))
		assert.Equal(t, "ascending", eval[string](b, `document.querySelector('[data-table="customers"] th[aria-sort="ascending"]') ? 'ascending' : ''`))
	})

	step("alerts: acknowledge by a click", func(t *testing.T) {
		b.t = t
		b.clickAndWait(`nav a[data-nav="alerts"]`, "alerts", today)
		var open alertsAnswer
		d.get(t, "/v1/alerts", fmtQ("status", "open"), &open)
		require.NotEmpty(t, open.Alerts)
		assert.Equal(t, fmt.Sprint(len(open.Alerts)), eval[string](b, `document.querySelector('[data-field="alerts-count"]').getAttribute('value')`))
		shown := eval[[]string](b, `[...document.querySelectorAll('[data-list="alerts"] > li')].map((li) => li.dataset.alertId)`)
		assert.ElementsMatch(t, alertIDs(open.Alerts), shown, "alerts listed")
		checkContrast(t, b)

		target := shown[0]
		comment := `Called the customer: payment promised <b>Friday</b> & "confirmed"`
		sel := fmt.Sprintf(`li[data-alert-id=%q]`, target)
		b.do(chromedp.SendKeys(chromedp.CSS(sel+" textarea"), comment),
			chromedp.Click(chromedp.CSS(sel+" button[data-ack]")))
		b.waitFor("the acknowledged alert", fmt.Sprintf(`document.querySelector('li[data-alert-id=%q][data-status="acknowledged"]') !== null`, target))
		var got alert
		d.get(t, "/v1/alerts/"+url.PathEscape(target), nil, &got)
		assert.Equal(t, "acknowledged", got.Status)
		require.Len(t, got.Acks, 1)
		assert.Equal(t, comment, got.Acks[0].Comment)
		assert.Equal(t, comment, eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, sel+" .acks q")))
		b.screenshot("alerts")
	})

	step("alerts: resolve by hand with a click", func(t *testing.T) {
		b.t = t
		shown := eval[[]string](b, `[...document.querySelectorAll('[data-list="alerts"] > li:not([data-status="resolved"])')].map((li) => li.dataset.alertId)`)
		require.NotEmpty(t, shown)
		target := shown[len(shown)-1] // not the one acknowledged above, when there are two
		comment := "Paid by transfer, confirmed by phone"
		sel := fmt.Sprintf(`li[data-alert-id=%q]`, target)
		b.do(chromedp.SendKeys(chromedp.CSS(sel+" textarea"), comment),
			chromedp.Click(chromedp.CSS(sel+" button[data-resolve]")))
		b.waitFor("the resolved alert", fmt.Sprintf(`document.querySelector('li[data-alert-id=%q][data-status="resolved"]') !== null`, target))
		var got alert
		d.get(t, "/v1/alerts/"+url.PathEscape(target), nil, &got)
		assert.Equal(t, "resolved", got.Status)
		assert.Equal(t, "resolved by hand", got.ResolvedReason)
		assert.Equal(t, comment, got.ResolvedComment)
		assert.NotEmpty(t, got.ResolvedBy)
		assert.NotEmpty(t, got.ResolvedOn)
		assert.Equal(t, comment, eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, sel+` [data-field="resolved-comment"] q`)))
		assert.False(t, eval[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, sel+" button[data-resolve]")), "a resolved alert offers no form")
		assert.Contains(t, eval[string](b, `document.getElementById('announcer').textContent`), "resolved")
	})

	step("alerts: filter", func(t *testing.T) {
		b.t = t
		shown := func() []string {
			return eval[[]string](b, `[...document.querySelectorAll('[data-list="alerts"] > li')].map((li) => li.dataset.alertId)`)
		}
		// By severity: the select applies on change.
		b.do(chromedp.Evaluate[chromedp.Void](`delete document.getElementById('main').dataset.ready`),
			chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('select[name="severity"]'); s.value = 'critical'; s.dispatchEvent(new Event('change')); })()`))
		b.waitReady("alerts", today)
		assert.Contains(t, eval[string](b, `window.location.hash`), "severity=critical")
		var critical alertsAnswer
		d.get(t, "/v1/alerts", fmtQ("status", "open", "min_severity", "critical"), &critical)
		require.NotEmpty(t, critical.Alerts, "the demo portfolio has critical alerts")
		assert.ElementsMatch(t, alertIDs(critical.Alerts), shown(), "critical alerts listed")
		assert.Equal(t, fmt.Sprint(len(critical.Alerts)), eval[string](b, `document.querySelector('[data-field="alerts-count"]').getAttribute('value')`))
		// By customer, typed and sent with the form; the severity stays.
		var customer string
		for _, a := range critical.Alerts {
			if a.CustomerID != "" { // not a portfolio alert
				customer = a.CustomerID
				break
			}
		}
		require.NotEmpty(t, customer, "a critical alert on a customer")
		b.do(chromedp.SendKeys(chromedp.CSS(`form.filters input[name="customer"]`), customer))
		b.clickAndWait(`form.filters button[type="submit"]`, "alerts", today)
		var one alertsAnswer
		d.get(t, "/v1/alerts", fmtQ("status", "open", "min_severity", "critical", "customer_id", customer), &one)
		require.NotEmpty(t, one.Alerts)
		assert.ElementsMatch(t, alertIDs(one.Alerts), shown(), "critical alerts of %s listed", customer)
		// Resolved alerts, every severity and customer.
		b.do(chromedp.Evaluate[chromedp.Void](`delete document.getElementById('main').dataset.ready`))
		b.open("#/alerts?status=resolved")
		b.waitReady("alerts", today)
		var resolved alertsAnswer
		d.get(t, "/v1/alerts", fmtQ("status", "resolved"), &resolved)
		assert.Equal(t, fmt.Sprint(len(resolved.Alerts)), eval[string](b, `document.querySelector('[data-field="alerts-count"]').getAttribute('value')`))
	})

	step("an alert arrives live", func(t *testing.T) {
		b.t = t
		b.clickAndWait(`nav a[data-nav="overview"]`, "overview", today)
		b.waitFor("the live alert stream", `document.querySelector('[data-live-state="live"]') !== null`)
		b.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
		// A customer with exposure and no open alert: a limit at half its exposure raises a
		// critical credit_limit alert as soon as the evaluator reads the change.
		id, exposure := quietCustomer(t, d)
		status, body := d.do(t, http.MethodPost, "/v1/customers/"+id+"/credit-limit", nil,
			strings.NewReader(fmt.Sprintf(`{"amount": %d, "reason": "browser test: live alert"}`, exposure/2)))
		require.Equal(t, http.StatusCreated, status, "%s", body)
		b.waitFor("the new alert in the open alerts", fmt.Sprintf(`document.querySelector('[data-list="open-alerts"] li.new[data-alert-id^=%q]') !== null`, id+":credit_limit:"))
		assert.True(t, eval[bool](b, `window.__sameDocument === true`), "the page was not reloaded")
		assert.Contains(t, eval[string](b, `document.getElementById('announcer').textContent`), "New critical alert")
	})

	step("as-of date", func(t *testing.T) {
		b.t = t
		const past = "2025-12-31"
		b.do(chromedp.SetValue(chromedp.ID("asof"), past))
		b.clickAndWait(`#asof-form button[type="submit"]`, "overview", past)
		assert.Contains(t, eval[string](b, `window.location.hash`), "as_of="+past)
		var pf portfolioAnswer
		d.get(t, "/v1/portfolio", fmtQ("as_of", past), &pf)
		require.NotNil(t, pf.Data.Figures)
		assert.False(t, pf.Basis.Live, "a past date is a replay")
		checkKPIs(t, b, ".kpis", *pf.Data.Figures)
		checkAging(t, b, `[data-table="aging"]`, *pf.Data.Figures)
		b.screenshot("overview-" + past)
		// The date follows the navigation.
		b.clickAndWait(`nav a[data-nav="customers"]`, "customers", past)
		checkCustomerRows(t, b, d, fmtQ("sort", "exposure", "limit", "50", "as_of", past))
		b.clickAndWait(`[data-table="customers"] tbody tr:first-child a.customer-link`, "customer", past)
		id := eval[string](b, `document.querySelector('[data-field="customer-id"]').textContent`)
		var aged struct {
			Data []struct {
				CustomerID string `json:"customer_id"`
				Exposure   int64  `json:"exposure"`
				Overdue    int64  `json:"overdue"`
			} `json:"data"`
		}
		d.get(t, "/v1/aging", fmtQ("as_of", past, "format", "json"), &aged)
		found := false
		for _, r := range aged.Data {
			if r.CustomerID == id {
				found = true
				f := b.fields(".kpis")
				assert.Equal(t, fmt.Sprint(r.Exposure), f["exposure"], "exposure of %s on %s", id, past)
				assert.Equal(t, fmt.Sprint(r.Overdue), f["overdue"], "overdue of %s on %s", id, past)
			}
		}
		assert.True(t, found, "%s in the aged balance on %s", id, past)
		checkCustomerHistory(t, b, d, id, past)
		later := eval[int](b, `[...document.querySelectorAll('[data-list="timeline"] > li')].filter((li) => li.querySelector('time').getAttribute('datetime') > '`+past+`').length`)
		assert.Zero(t, later, "no story entry after the as-of date")
		b.clickAndWait(`#asof-today`, "customer", today)
	})

	step("keyboard and focus", func(t *testing.T) {
		b.t = t
		// A fresh document: the tab order starts at the top of the page.
		b.open("#/")
		b.do(chromedp.Reload())
		b.waitReady("overview", today)
		b.do(chromedp.KeyEvent("\t"))
		assert.Equal(t, "skip", eval[string](b, `document.activeElement.id`), "the first stop is the skip link")
		assert.NotEqual(t, "none", eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`), "focus is visible")
		b.do(chromedp.KeyEvent("\r"))
		assert.Equal(t, "main", eval[string](b, `document.activeElement.id`), "skip to content")
		// Tab order reaches the first customer link of the page, and Enter follows it.
		for i := 0; i < 200 && !eval[bool](b, `document.activeElement.matches('main a[href^="#/customers/"]')`); i++ { // bounded walk of the tab order
			b.do(chromedp.KeyEvent("\t"))
		}
		target := eval[string](b, `document.activeElement.getAttribute('href')`)
		require.True(t, strings.HasPrefix(target, "#/customers/"), "a customer link is reachable by Tab")
		b.do(chromedp.Evaluate[chromedp.Void](`delete document.getElementById('main').dataset.ready`), chromedp.KeyEvent("\r"))
		b.waitReady("customer", today)
		assert.Equal(t, target, eval[string](b, `window.location.hash`))
	})

	step("a refused token brings the box back", func(t *testing.T) {
		b.t = t
		// The page must be done with its requests first: one still in flight when the bad
		// token is stored would get the 401, and forget the token before the reload.
		b.do(chromedp.Evaluate[chromedp.Void](`delete document.getElementById('main').dataset.ready`))
		b.open("#/")
		b.waitReady("overview", today)
		b.do(chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('encours.token', 'enc_not-a-token-the-daemon-issued')`), chromedp.Reload())
		b.waitFor("the token box after a 401", `document.getElementById('token-dialog').open && document.getElementById('token-reason').textContent.includes('401')`)
		assert.Empty(t, eval[string](b, `sessionStorage.getItem('encours.token') || ''`), "the refused token is forgotten")
		b.do(chromedp.SendKeys(chromedp.ID("token-input"), d.Token), chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)))
		b.waitReady("overview", today)
	})

	step("hostile names are text", func(t *testing.T) {
		b.t = t
		const name = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>Évil & Co`
		status, body := d.do(t, http.MethodPost, "/v1/customers", nil, strings.NewReader(fmt.Sprintf(
			`{"id": "XSS1", "name": %q, "country": "FR", "segment": "sme", "currency": "EUR", "terms_days": 30, "credit_limit": 100000, "registered_on": %q}`, name, today)))
		require.Equal(t, http.StatusCreated, status, "%s", body)
		b.open("#/customers/XSS1")
		b.waitReady("customer", today)
		assert.Equal(t, name, eval[string](b, `document.querySelector('h1').textContent`))
		assert.Zero(t, eval[int](b, `document.querySelectorAll('main img, main script').length`), "no element made from the name")
		assert.True(t, eval[bool](b, `window.__xss === undefined`), "nothing ran")
	})

	step("two currencies are never added", func(t *testing.T) {
		b.t = t
		for _, body := range []string{
			`{"id": "USD1", "name": "Delaware Widgets Inc.", "country": "US", "segment": "corporate", "currency": "USD", "terms_days": 30, "credit_limit": 5000000, "registered_on": "` + today + `"}`,
		} {
			status, ans := d.do(t, http.MethodPost, "/v1/customers", nil, strings.NewReader(body))
			require.Equal(t, http.StatusCreated, status, "%s", ans)
		}
		status, ans := d.do(t, http.MethodPost, "/v1/invoices", nil, strings.NewReader(
			`{"customer_id": "USD1", "invoice_id": "USD1-1", "number": "US-1", "amount": 1234567, "currency": "USD", "issue_date": "`+today+`"}`))
		require.Equal(t, http.StatusCreated, status, "%s", ans)
		b.open("#/customers")
		b.waitReady("customers", today)
		var pf portfolioAnswer
		require.Eventually(t, func() bool {
			d.get(t, "/v1/portfolio", nil, &pf)
			return pf.Data.Figures == nil && len(pf.Data.ByCurrency) == 2
		}, waitMax, 20*time.Millisecond, "the live projection reads the USD invoice")
		b.clickAndWait(`nav a[data-nav="overview"]`, "overview", today)
		for _, f := range pf.Data.ByCurrency {
			checkKPIs(t, b, fmt.Sprintf(`.currency-block[data-currency=%q] .kpis`, f.Currency), f)
			checkAging(t, b, fmt.Sprintf(`[data-table="aging"][data-currency=%q]`, f.Currency), f)
		}
		assert.Equal(t, "$12,345.67", eval[string](b, `document.querySelector('.currency-block[data-currency="USD"] [data-field="exposure"]').textContent`))
	})

	b.t = t
	b.noProblems()
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// TestBrowserWithoutAlerting runs the dashboard over a daemon that serves no alerts (the
// alert routes answer 404): the pages still load, say why alerts are missing, and raise no
// error.
func TestBrowserWithoutAlerting(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped under -short")
	}
	chromiumPath(t)
	d := startDaemon(t, withoutAlerts)
	b := newBrowser(t, d)
	today := d.Today.String()
	b.do(chromedp.Navigate(d.URL+"/"), chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`sessionStorage.setItem('encours.token', %q)`, d.Token)), chromedp.Reload())
	b.waitReady("overview", today)
	var pf portfolioAnswer
	d.get(t, "/v1/portfolio", nil, &pf)
	require.NotNil(t, pf.Data.Figures)
	checkKPIs(t, b, ".kpis", *pf.Data.Figures)
	assert.Contains(t, eval[string](b, `document.getElementById('open-alerts').textContent`), "serves no alerts")
	assert.Contains(t, eval[string](b, `document.getElementById('riskiest').textContent`), "does not serve")
	b.clickAndWait(`[data-table="top10"] tbody tr:first-child a`, "customer", today)
	checkCustomer(t, b, d, pf.Data.Concentration.Top[0].CustomerID, today)
	b.clickAndWait(`nav a[data-nav="alerts"]`, "alerts", today)
	assert.Contains(t, eval[string](b, `document.getElementById('main').textContent`), "serves no alerts")
	b.noProblems()
}
