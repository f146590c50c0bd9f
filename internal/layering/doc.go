// Package layering holds the test that keeps Candour's dependency rule: the HTTP surfaces
// (internal/web, internal/api) call the use cases (intake, casework, oversight, accounts, auth),
// which call the store; only the store and the database package speak to PostgreSQL's driver.
package layering
