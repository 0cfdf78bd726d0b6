package auth_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/encours/encours/handlers/auth"
)

// The access policy written out, role by role: a change of grants must change this table.
func TestRolePermissions(t *testing.T) {
	const (
		y = true
		n = false
	)
	perms := []auth.Permission{auth.PermPublic, auth.PermAuthenticated, auth.PermRead, auth.PermRecord,
		auth.PermRegister, auth.PermCredit, auth.PermAudit, auth.PermAdmin}
	want := map[auth.Role][]bool{
		//                  public auth read record register credit audit admin
		auth.RoleReader:        {y, y, y, n, n, n, n, n},
		auth.RoleWriter:        {y, y, n, y, y, n, n, n},
		auth.RoleCreditManager: {y, y, y, n, y, y, n, n},
		auth.RoleAuditor:       {y, y, y, n, n, n, y, n},
		auth.RoleAdmin:         {y, y, y, y, y, y, y, y},
	}
	assert.Len(t, want, len(auth.Roles()))
	for _, r := range auth.Roles() {
		for i, p := range perms {
			assert.Equal(t, want[r][i], r.May(p), "%s may %s", r, p)
		}
		parsed, ok := auth.ParseRole(string(r))
		assert.True(t, ok)
		assert.Equal(t, r, parsed)
	}
	assert.False(t, auth.Role("root").May(auth.PermRead), "an unknown role holds nothing")
	_, ok := auth.ParseRole("Admin")
	assert.False(t, ok)
	assert.Equal(t, []auth.Role{auth.RoleAdmin}, auth.RolesWith(auth.PermAdmin))
}
