package database

// LetGo releases e's lock without stopping its server, as a portal killed without taking its
// server with it leaves it (or as a server started by hand is found).
func LetGo(e *Embedded) { e.lock.Close() }
