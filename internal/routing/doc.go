// Package routing loads the council's routing policy from policies/ and decides
// where a concern goes.
//
// It is pure: facts in, decision out. It imports nothing of Candour's, touches
// no database and no network, and is safe for concurrent use once loaded.
//
// A policy is six YAML files in one folder:
//
//	council.yaml    the council's names, public contact, safeguarding numbers,
//	                accessibility and privacy details, extra external bodies
//	directory.yaml  service areas, their Lead Member, Head of Service and published
//	                evidence; council-wide roles; senior officers
//	routing.yaml    ordered rules whose conditions are CEL expressions
//	clocks.yaml     acknowledge / decide / feedback / safeguarding periods and the
//	                bank holidays of England and Wales
//	retention.yaml  how long records are kept after closure; statistics threshold
//	fixtures.yaml   example concerns with the route each must get
//
// [Load] validates everything (YAML, unknown fields, CEL syntax and types, roles,
// service areas, evidence ids, the default rule) and runs the fixtures; any
// problem is reported as a [*LoadError] carrying file:line and a reason.
package routing
