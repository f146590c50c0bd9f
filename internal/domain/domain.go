// Package domain holds the few types every layer speaks of — a staff account and its roles —
// so the HTTP surfaces can name them without reaching into the store. It imports nothing.
package domain

// Staff roles (DESIGN §2).
const (
	RoleMonitoringOfficer = "monitoring_officer"
	RoleDeputy            = "deputy_monitoring_officer"
	RoleServiceLead       = "service_lead"
	RoleSafeguarding      = "safeguarding"
	RoleInvestigator      = "investigator"
	RoleCustodian         = "custodian"
	RoleCouncillor        = "councillor"
	RoleAuditor           = "auditor"
	RoleAdmin             = "admin"
)

// Roles are the staff roles, in the order forms list them.
var Roles = []string{RoleMonitoringOfficer, RoleDeputy, RoleServiceLead, RoleSafeguarding,
	RoleInvestigator, RoleCustodian, RoleCouncillor, RoleAuditor, RoleAdmin}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool { return contains(Roles, r) }

// User is a staff account as the use cases see it: no password hash, no second-factor secret.
type User struct {
	ID           int64
	Email        string
	Name         string
	Roles        []string
	ServiceAreas []string
	AgeRecipient *string
	Language     string
	Status       string
}

// HasRole reports whether u holds role.
func (u *User) HasRole(role string) bool { return contains(u.Roles, role) }

// Active reports whether u is a real, enabled account.
func (u *User) Active() bool { return u != nil && u.ID != 0 && u.Status == "active" }

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TriageFilter narrows the queue. Empty fields do not filter.
type TriageFilter struct {
	Status      string
	Route       string
	ServiceArea string
	Channel     string
	Breached    bool
	Waiting     bool // the reporter wrote last: waiting for us
}
