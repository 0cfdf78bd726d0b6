package auth

// Role is what a token may do. A token has exactly one role.
type Role string

// The roles (Audit/access-control issue).
const (
	// RoleWriter posts the ledger's facts from finance systems: invoices, payments, credit
	// notes, reversals, allocations, disputes, write-offs, reminders, and registers customers.
	RoleWriter Role = "writer"
	// RoleCreditManager makes credit decisions (limits, insurance, ratings, payment plans,
	// promises to pay, alert acknowledgements, subscriptions) and reads what a reader reads.
	RoleCreditManager Role = "credit_manager"
	// RoleReader queries: customers, their events, the dashboard's data, metrics.
	RoleReader Role = "reader"
	// RoleAuditor reads everything, the whole log included, exports and verifies; it writes
	// nothing.
	RoleAuditor Role = "auditor"
	// RoleAdmin may do everything, and alone manages tokens.
	RoleAdmin Role = "admin"
)

// Roles lists every role, least powerful first.
func Roles() []Role {
	return []Role{RoleReader, RoleWriter, RoleCreditManager, RoleAuditor, RoleAdmin}
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// Permission is what a route requires of the caller.
type Permission uint8

// Permissions, one per kind of route. A new route picks the one that describes it; a route
// that fits none needs a new permission here, and a row in the matrix test of httpapi.
const (
	// PermPublic needs no token: /healthz, /readyz, the dashboard's static assets.
	PermPublic Permission = iota + 1
	// PermAuthenticated needs any valid token: the API's own description (/openapi.json).
	PermAuthenticated
	// PermRead: queries and dashboard reads (customers, their events, portfolio, aging,
	// alerts, metrics).
	PermRead
	// PermRecord: facts a finance system records (invoices, payments, credit notes,
	// reversals, allocations, disputes, write-offs, reminders).
	PermRecord
	// PermRegister: registering a customer, which both a finance system (master data) and a
	// credit manager (onboarding) do.
	PermRegister
	// PermCredit: credit decisions (limits, insurance, ratings, plans, promises, alert
	// acknowledgement, subscriptions).
	PermCredit
	// PermAudit: the whole log (every stream, system streams included), exports, verify.
	PermAudit
	// PermAdmin: tokens and the manual clock.
	PermAdmin
)

// String names a permission (documentation, test names).
func (p Permission) String() string {
	switch p {
	case PermPublic:
		return "public"
	case PermAuthenticated:
		return "authenticated"
	case PermRead:
		return "read"
	case PermRecord:
		return "record"
	case PermRegister:
		return "register"
	case PermCredit:
		return "credit"
	case PermAudit:
		return "audit"
	case PermAdmin:
		return "admin"
	}
	return "unknown"
}

// grants is the whole access policy: which roles hold each permission. Admin holds all.
var grants = map[Permission][]Role{
	PermAuthenticated: {RoleReader, RoleWriter, RoleCreditManager, RoleAuditor, RoleAdmin},
	PermRead:          {RoleReader, RoleCreditManager, RoleAuditor, RoleAdmin},
	PermRecord:        {RoleWriter, RoleAdmin},
	PermRegister:      {RoleWriter, RoleCreditManager, RoleAdmin},
	PermCredit:        {RoleCreditManager, RoleAdmin},
	PermAudit:         {RoleAuditor, RoleAdmin},
	PermAdmin:         {RoleAdmin},
}

// May reports whether role r holds permission p. Public routes are open to everyone.
func (r Role) May(p Permission) bool {
	if p == PermPublic {
		return true
	}
	for _, g := range grants[p] {
		if g == r {
			return true
		}
	}
	return false
}

// RolesWith lists the roles that hold p, least powerful first (the API description).
func RolesWith(p Permission) []Role {
	var out []Role
	for _, r := range Roles() {
		if r.May(p) {
			out = append(out, r)
		}
	}
	return out
}
