package access

import "candour/internal/domain"

// Caller is who a route admits before any rule about the person is asked.
type Caller int

const (
	Anyone   Caller = iota + 1 // no credentials at all
	Reporter                   // a mailbox token or cookie, opened with a receipt
	Staff                      // a live staff session
)

// Gate is who may call a route: the kind of caller, and for staff a rule about the person.
// Every route of both surfaces names one on the line that declares it, and the OpenAPI document
// names the same gate in x-candour-gate. A rule about one case or investigation (case access,
// the officers of an investigation) is checked again by the use case, on the record itself.
type Gate struct {
	Name   string
	Caller Caller
	// Setup admits a staff session that must still enrol a second factor or change its
	// password (only the pages that do that, and signing out).
	Setup bool
	allow func(*domain.User) bool
}

// Allows reports whether the signed-in staff user u may pass. Anyone and Reporter gates have
// no person to ask about.
func (g Gate) Allows(u *domain.User) bool {
	if g.Caller != Staff {
		return true
	}
	return g.allow != nil && u.Active() && g.allow(u)
}

func anyStaff(*domain.User) bool { return true }

// The gates. Names are stable: the OpenAPI document and its test use them.
var (
	// Public needs nothing: the start page, the report form, the statements.
	Public = Gate{Name: "public", Caller: Anyone}
	// Mailbox needs a mailbox token (API) or cookie (pages).
	Mailbox = Gate{Name: "mailbox", Caller: Reporter}
	// SignedIn is any staff session that has finished setting up.
	SignedIn = Gate{Name: "signed_in", Caller: Staff, allow: anyStaff}
	// Setup is any staff session, including one that must still enrol a second factor or
	// change its password.
	Setup = Gate{Name: "setup", Caller: Staff, Setup: true, allow: anyStaff}
	// Triage is the queue: the whole of it for the Monitoring Officer and deputy, their own
	// routes for everyone else (the use case filters by case access).
	Triage = Gate{Name: "triage", Caller: Staff, allow: CanUseQueue}
	// CaseAccess is one concern: staff with access to it (Checker.HasCaseAccess, checked by the
	// use case on the concern itself).
	CaseAccess = Gate{Name: "case_access", Caller: Staff, allow: anyStaff}
	// MonitoringOfficer is the Monitoring Officer and deputy: acknowledge, decide, record on a
	// reporter's behalf, grant access, commission investigations and link concerns.
	MonitoringOfficer = Gate{Name: "monitoring_officer", Caller: Staff, allow: isMonitoring}
	// Acknowledge is marking a concern acknowledged: the Monitoring Officer and deputy, and the
	// safeguarding hub for what is routed to it (the use case checks the route).
	Acknowledge = Gate{Name: "acknowledge", Caller: Staff, allow: func(u *domain.User) bool {
		return isMonitoring(u) || u.HasRole(domain.RoleSafeguarding)
	}}
	// IdentityRequest is asking the custodians to disclose: the Monitoring Officer, deputy, or an
	// investigator, each with access to the case.
	IdentityRequest = Gate{Name: "identity_request", Caller: Staff, allow: func(u *domain.User) bool {
		return isMonitoring(u) || u.HasRole(domain.RoleInvestigator)
	}}
	// Custodian is the identity custodians: pending requests, decisions, sealed identities.
	Custodian = Gate{Name: "custodian", Caller: Staff, allow: func(u *domain.User) bool { return u.HasRole(domain.RoleCustodian) }}
	// Investigation is the investigations a person works on (the use case checks which).
	Investigation = Gate{Name: "investigation", Caller: Staff, allow: anyStaff}
	// Councillor is the councillor route and a councillor's own concerns.
	Councillor = Gate{Name: "councillor", Caller: Staff, allow: CanRaiseCouncillorConcern}
	// Statistics is aggregates only: the auditor, the Monitoring Officer and deputy.
	Statistics = Gate{Name: "statistics", Caller: Staff, allow: CanSeeStats}
	// Auditor is the audit trail and its verification.
	Auditor = Gate{Name: "auditor", Caller: Staff, allow: CanReadAudit}
	// Admin is account administration; never case content.
	Admin = Gate{Name: "admin", Caller: Staff, allow: CanManageUsers}
)

// Gates lists every gate, for the tests that check route tables against the API document.
func Gates() []Gate {
	return []Gate{Public, Mailbox, SignedIn, Setup, Triage, CaseAccess, MonitoringOfficer, Acknowledge, IdentityRequest,
		Custodian, Investigation, Councillor, Statistics, Auditor, Admin}
}
