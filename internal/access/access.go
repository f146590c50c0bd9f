// Package access decides who may do what on which case, in one place, for the HTML pages and
// the JSON API alike. Every function fails closed: no user, a disabled user, a missing fact or
// an unreadable route decision means no.
//
// Case access is the Monitoring Officer and deputy, the route holders of the stored decision
// (and, for a route to the safeguarding hub, staff with the safeguarding role), the holder a
// concern was referred to (likewise the hub's staff for a referral to the hub), and anyone
// granted access (investigators on a linked investigation, a transfer) — minus anyone named in
// the concern and anyone who declared a conflict. When the Monitoring Officer is named, the
// exclusion leaves the deputy to handle it. Callers answer "no" with 404, not 403, so a person
// without access cannot even learn that a case exists.
//
// Service leads are scoped to their service areas (users.service_areas). A user with the
// service_lead role holds a route by e-mail only for a concern whose service area is one of
// theirs; a service lead with no areas holds none that way. Only that e-mail route is scoped:
// the Monitoring Officer and deputy, the safeguarding hub's role route, and access granted on
// the case (an investigator on a linked investigation, a transfer) stand whatever the areas,
// because the Monitoring Officer chose to give them. The triage queue applies the same rule in
// SQL (store.TriageViewer.ServiceAreas).
package access

import (
	"crypto/hmac"
	"encoding/json"
	"slices"
	"strings"

	"candour/internal/domain"
	"candour/internal/receipt"
	"candour/internal/store"
)

// Checker holds the key that named people were hashed with at intake.
type Checker struct{ names *receipt.Hasher }

// New returns a checker using the intake's keyed hash (receipt.Hasher).
func New(names *receipt.Hasher) *Checker { return &Checker{names: names} }

// NamedKey is the keyed hash under which intake stores a named person's e-mail address.
func NamedKey(h *receipt.Hasher, email string) []byte {
	return h.Hash("named:" + strings.ToLower(strings.TrimSpace(email)))
}

func active(u *store.User) bool { return u.Active() }

func isMonitoring(u *store.User) bool {
	return u.HasRole(domain.RoleMonitoringOfficer) || u.HasRole(domain.RoleDeputy)
}

// route is the part of the stored routing decision access needs.
type route struct {
	Route []struct {
		Role  string `json:"role"`
		Email string `json:"email"`
	} `json:"route"`
}

// Excluded reports whether u may never see the case: named in it, or declared a conflict.
func (c *Checker) Excluded(u *store.User, f *store.CaseFacts) bool {
	if c == nil || c.names == nil || f == nil {
		return true
	}
	for _, id := range f.Conflicted {
		if id == u.ID {
			return true
		}
	}
	mine := NamedKey(c.names, u.Email)
	for _, k := range f.NamedKeys {
		if hmac.Equal(k, mine) {
			return true
		}
	}
	return false
}

// routeOf is the stored routing decision's route; one that does not decode routes to nobody.
func routeOf(f *store.CaseFacts) route {
	var r route
	if err := json.Unmarshal(f.Route, &r); err != nil {
		return route{}
	}
	return r
}

// isRouteHolder reports whether u holds the case through the stored routing decision.
func isRouteHolder(u *store.User, f *store.CaseFacts) bool {
	for _, h := range routeOf(f).Route {
		if h.Email != "" && strings.EqualFold(strings.TrimSpace(h.Email), strings.TrimSpace(u.Email)) && inScope(u, f) {
			return true
		}
		if h.Role == "safeguarding_hub" && u.HasRole(domain.RoleSafeguarding) {
			return true
		}
	}
	return false
}

// isReferee reports whether u holds the procedure the concern was referred to: the directory
// holder it went to, or the hub's staff for a referral to the safeguarding hub.
func isReferee(u *store.User, f *store.CaseFacts) bool {
	if f.ReferredEmail != nil && *f.ReferredEmail != "" && strings.EqualFold(strings.TrimSpace(*f.ReferredEmail), strings.TrimSpace(u.Email)) {
		return true
	}
	return f.ReferredTo != nil && *f.ReferredTo == "safeguarding" && u.HasRole(domain.RoleSafeguarding)
}

// inScope reports whether an e-mail route may count for u: always, except for a service lead,
// whose route holds only within their service areas.
func inScope(u *store.User, f *store.CaseFacts) bool {
	return !u.HasRole(domain.RoleServiceLead) || slices.Contains(u.ServiceAreas, f.ServiceArea)
}

func isGranted(u *store.User, f *store.CaseFacts) bool {
	for _, id := range f.Granted {
		if id == u.ID {
			return true
		}
	}
	return false
}

// HasCaseAccess is the base rule every case action starts from.
func (c *Checker) HasCaseAccess(u *store.User, f *store.CaseFacts) bool {
	if !active(u) || f == nil || c.Excluded(u, f) {
		return false
	}
	return isMonitoring(u) || isRouteHolder(u, f) || isReferee(u, f) || isGranted(u, f)
}

// CanReadConcern: see the concern page, its content, messages and history.
func (c *Checker) CanReadConcern(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f)
}

// CanMessage: write to the reporter through the mailbox.
func (c *Checker) CanMessage(u *store.User, f *store.CaseFacts) bool { return c.HasCaseAccess(u, f) }

// routedToHub reports whether the stored decision sends the concern to the safeguarding hub.
func routedToHub(f *store.CaseFacts) bool {
	for _, h := range routeOf(f).Route {
		if h.Role == "safeguarding_hub" {
			return true
		}
	}
	return false
}

// CanAcknowledge: mark the concern acknowledged: the Monitoring Officer or deputy, or the
// safeguarding hub for what is routed to it (its 24-hour clock is theirs to stop).
func (c *Checker) CanAcknowledge(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f) && (isMonitoring(u) || (u.HasRole(domain.RoleSafeguarding) && routedToHub(f)))
}

// CanDecide: accept, refer, decline or close (Monitoring Officer or deputy).
func (c *Checker) CanDecide(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f) && isMonitoring(u)
}

// CanRecordReferralOutcome: say what came of a referral: its holder only (the Monitoring
// Officer reads it and closes the concern).
func (c *Checker) CanRecordReferralOutcome(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f) && isReferee(u, f)
}

// CanRequestIdentity: ask the custodians to disclose the reporter's identity (Monitoring
// Officer, deputy, or an investigator with access to the case).
func (c *Checker) CanRequestIdentity(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f) && (isMonitoring(u) || u.HasRole(domain.RoleInvestigator))
}

// CanGrantAccess: give another handler access or transfer the case (Monitoring Officer or
// deputy).
func (c *Checker) CanGrantAccess(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f) && isMonitoring(u)
}

// CanDeclareConflict: only someone who could see the case can step away from it.
func (c *Checker) CanDeclareConflict(u *store.User, f *store.CaseFacts) bool {
	return c.HasCaseAccess(u, f)
}

// CanApproveIdentity: a custodian other than the requester, not excluded from the case.
func (c *Checker) CanApproveIdentity(u *store.User, f *store.CaseFacts, requesterID int64) bool {
	return active(u) && f != nil && u.HasRole(domain.RoleCustodian) && u.ID != requesterID && !c.Excluded(u, f)
}

// CanFollowOwn: a councillor follows the concerns they raised (status and route, their own
// words), which is not case access.
func CanFollowOwn(u *store.User, f *store.CaseFacts) bool {
	return active(u) && f != nil && u.HasRole(domain.RoleCouncillor) && f.CreatedBy != nil && *f.CreatedBy == u.ID
}

// CanSeeTriage: the whole queue (clear columns only).
func CanSeeTriage(u *store.User) bool { return active(u) && isMonitoring(u) }

// CanUseQueue: the triage queue, all of it for the Monitoring Officer and deputy, their own
// routes for service leads, the safeguarding hub and investigators.
func CanUseQueue(u *store.User) bool {
	return active(u) && (isMonitoring(u) || u.HasRole(domain.RoleServiceLead) || u.HasRole(domain.RoleSafeguarding) ||
		u.HasRole(domain.RoleInvestigator))
}

// CanCommissionInvestigation: open investigations and link concerns.
func CanCommissionInvestigation(u *store.User) bool { return active(u) && isMonitoring(u) }

// CanReadAudit: the audit trail, its verification and the statistics; never case content.
func CanReadAudit(u *store.User) bool { return active(u) && u.HasRole(domain.RoleAuditor) }

// CanManageUsers: users, roles, 2FA resets; never case content.
func CanManageUsers(u *store.User) bool { return active(u) && u.HasRole(domain.RoleAdmin) }

// CanRaiseCouncillorConcern: the councillor route.
func CanRaiseCouncillorConcern(u *store.User) bool {
	return active(u) && u.HasRole(domain.RoleCouncillor)
}

// CanApproveAccess: approve or refuse a proposed widening of someone's access to cases (the
// Monitoring Officer or deputy; the use case refuses their own proposals and their own access).
func CanApproveAccess(u *store.User) bool { return active(u) && isMonitoring(u) }
