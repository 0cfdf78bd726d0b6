// Package dashboard serves the built-in monitoring dashboard (design §Users: "the built-in
// web page"; journey 1): the portfolio overview (exposure against limits, aging, the DSO
// trend by both methods, concentration, open alerts arriving live, the riskiest customers),
// the customers list, one customer's page (its story as a timeline, what it owes and since
// when, its balance and utilisation at twelve month ends, penalties, risk score factors and
// signals) and the alerts page (filter, acknowledge
// with a comment), each at any as-of date.
//
// The dashboard is static: index.html, plain CSS and JavaScript modules, with charts drawn
// as inline SVG, embedded in the binary (no CDN: finance networks are often closed) and
// served without a token. No framework and no build step: the pages fit in a few hundred
// lines each, there is nothing to vendor, audit or keep up to date, and what is served is
// what is in the repository. Every figure comes from the API (handlers/httpapi, the reports
// and alerting routes) with the user's bearer token, kept in the tab's sessionStorage;
// money stays integer minor units until it is formatted as an exact decimal string.
//
// Routes lists the two public routes for the API wiring to mount (auth.PermPublic): the
// page at exactly "/" and its assets under /assets/.
//
// It imports only the standard library. Its tests start a whole daemon in-process and drive
// a real headless Chromium with chromedp (browser_test.go): they skip when Chromium is
// missing, except under CI=true, where they fail.
package dashboard
