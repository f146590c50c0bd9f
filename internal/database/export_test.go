package database

// LetGo releases e's lock without stopping its server, as a portal killed without taking its
// server with it leaves it (or as a server started by hand is found).
func LetGo(e *Embedded) { e.lock.Close() }

// For the failover test, which runs its own primary and standby as the embedded server runs.
var (
	ServerCredential = serverCredential
	PrepareForUser   = prepareForUser
	ServerEnv        = serverEnv
)
