package access

import (
	"candour/internal/domain"
	"candour/internal/store"
)

// CanSeeStats: the statistics and the annual report (aggregates only, never case content):
// the auditor, the Monitoring Officer and the deputy.
func CanSeeStats(u *store.User) bool {
	return active(u) && (u.HasRole(domain.RoleAuditor) || isMonitoring(u))
}
