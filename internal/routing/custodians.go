package routing

import (
	"fmt"
	"net/mail"
	"strings"
)

// CustodiansFile pins the identity custodians' age recipients in the policy, outside the
// database: a sealed identity goes to exactly this set, so whoever can write a users row cannot
// add a key of their own. It is optional only so a developer's machine can run without one;
// a council going live lists at least one custodian here, reviewed like any policy file.
const CustodiansFile = "custodians.yaml"

// Custodian is one identity custodian and the age recipient identities are sealed to.
type Custodian struct {
	Name      string `yaml:"name"`
	Email     string `yaml:"email"`
	Recipient string `yaml:"age_recipient"`
}

type rawCustodians struct {
	Custodians []Custodian `yaml:"custodians"`
}

// CustodianRecipients are the pinned recipients, in file order; none when the policy has no
// custodians file.
func (p *Policy) CustodianRecipients() []string {
	out := make([]string, 0, len(p.Custodians))
	for _, c := range p.Custodians {
		out = append(out, c.Recipient)
	}
	return out
}

func buildCustodians(s *source, raw *rawCustodians) ([]Custodian, []*LoadError) {
	var errs []*LoadError
	if len(raw.Custodians) == 0 {
		return nil, []*LoadError{s.errorf("$.custodians", "no custodian: list at least one, or identities could be sealed to no one")}
	}
	seen := map[string]string{}
	out := make([]Custodian, 0, len(raw.Custodians))
	for i, c := range raw.Custodians {
		path := fmt.Sprintf("$.custodians[%d]", i)
		c.Name, c.Email, c.Recipient = strings.TrimSpace(c.Name), strings.ToLower(strings.TrimSpace(c.Email)), strings.TrimSpace(c.Recipient)
		if c.Name == "" {
			errs = append(errs, s.errorf(path, "a custodian needs a name"))
		}
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			errs = append(errs, s.errorf(path+".email", "%q is not an e-mail address", c.Email))
		}
		if e := checkRecipient(s, path+".age_recipient", c.Recipient, seen); e != nil {
			errs = append(errs, e)
		}
		out = append(out, c)
	}
	return out, errs
}
