package routing

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// CouncilFile is the council's profile: what the public pages say about who runs the
// service and how to reach them, so a council goes live by writing policy, not code.
const CouncilFile = "council.yaml"

// Council is the council's profile (council.yaml). Text people read comes in English and
// Welsh (the *Cy fields).
type Council struct {
	Name          string        `yaml:"name"`
	NameCy        string        `yaml:"name_cy"`
	Contact       PublicContact `yaml:"contact"`
	Safeguarding  Safeguarding  `yaml:"safeguarding"`
	Accessibility Accessibility `yaml:"accessibility"`
	Privacy       Privacy       `yaml:"privacy"`
	// OtherBodies are listed on the "other bodies you can go to" page after the prescribed
	// persons every Welsh council's workers may go to.
	OtherBodies []OtherBody `yaml:"other_bodies"`
	// Hosts are the host names the portal answers on for this council; any other gets a plain
	// 404. None: every name (a development machine).
	Hosts []string `yaml:"hosts"`
}

// PublicContact is how the public reaches the council itself.
type PublicContact struct {
	Phone     string `yaml:"phone"`
	Email     string `yaml:"email"`
	Website   string `yaml:"website"`
	Address   string `yaml:"address"`
	AddressCy string `yaml:"address_cy"`
}

// Safeguarding are the numbers in the banner before every intake form.
type Safeguarding struct {
	SocialServicesPhone string `yaml:"social_services_phone"` // office hours
	OutOfHoursPhone     string `yaml:"out_of_hours_phone"`    // out-of-hours duty team
}

// Accessibility is the accessibility statement's contact and dates.
type Accessibility struct {
	Email            string `yaml:"email"`
	Phone            string `yaml:"phone"`
	ReplyWorkingDays int    `yaml:"reply_working_days"`
	// Prepared and Reviewed are dates (YYYY-MM-DD); Reviewed may be empty.
	Prepared string `yaml:"prepared"`
	Reviewed string `yaml:"reviewed"`
	// PreparedOn and ReviewedOn are the dates parsed; ReviewedOn is zero when not reviewed.
	PreparedOn time.Time `yaml:"-"`
	ReviewedOn time.Time `yaml:"-"`
}

// Privacy is who the privacy notice names: the data controller and its data protection officer.
type Privacy struct {
	Controller   string `yaml:"controller"`
	ControllerCy string `yaml:"controller_cy"`
	// ICORegistration is the controller's number in the ICO's register of fee payers.
	ICORegistration string        `yaml:"ico_registration"`
	DPO             PrivacyPerson `yaml:"data_protection_officer"`
}

// PrivacyPerson is the data protection officer: a role, often a team mailbox.
type PrivacyPerson struct {
	Name   string `yaml:"name"`
	NameCy string `yaml:"name_cy"`
	Email  string `yaml:"email"`
	Phone  string `yaml:"phone"`
}

// OtherBody is an external body a worker may go to instead of the council. Address is its web
// address as text: the page never links away, so a visit leaves no trace elsewhere.
type OtherBody struct {
	Name          string `yaml:"name"`
	NameCy        string `yaml:"name_cy"`
	Description   string `yaml:"description"`
	DescriptionCy string `yaml:"description_cy"`
	Address       string `yaml:"address"`
}

// buildCouncil checks council.yaml: every field people rely on is present, e-mail addresses
// and phone numbers are well formed, and dates are dates.
func buildCouncil(s *source, raw *Council) (*Council, []*LoadError) {
	var errs []*LoadError
	c := *raw
	required := func(path, v string) bool {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, s.errorf(path, "%s is required", path[2:]))
			return false
		}
		return true
	}
	email := func(path, v string, need bool) {
		if (need && !required(path, v)) || v == "" {
			return
		}
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
			errs = append(errs, s.errorf(path, "%s: %q is not an e-mail address", path[2:], v))
		}
	}
	phone := func(path, v string, need bool) {
		if (need && !required(path, v)) || v == "" {
			return
		}
		if !PhoneNumber(v) {
			errs = append(errs, s.errorf(path, "%s: %q is not a phone number (digits and spaces, e.g. 01632 960000)", path[2:], v))
		}
	}
	date := func(path, v string, need bool) time.Time {
		if (need && !required(path, v)) || v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			errs = append(errs, s.errorf(path, "%s: %q is not a date (YYYY-MM-DD)", path[2:], v))
		}
		return t
	}

	required("$.name", c.Name)
	required("$.name_cy", c.NameCy)
	phone("$.contact.phone", c.Contact.Phone, true)
	email("$.contact.email", c.Contact.Email, true)
	phone("$.safeguarding.social_services_phone", c.Safeguarding.SocialServicesPhone, true)
	phone("$.safeguarding.out_of_hours_phone", c.Safeguarding.OutOfHoursPhone, true)
	email("$.accessibility.email", c.Accessibility.Email, true)
	phone("$.accessibility.phone", c.Accessibility.Phone, false)
	if c.Accessibility.ReplyWorkingDays <= 0 {
		errs = append(errs, s.errorf("$.accessibility.reply_working_days", "accessibility.reply_working_days is required: how many working days a reply takes, 1 or more"))
	}
	c.Accessibility.PreparedOn = date("$.accessibility.prepared", c.Accessibility.Prepared, true)
	c.Accessibility.ReviewedOn = date("$.accessibility.reviewed", c.Accessibility.Reviewed, false)
	required("$.privacy.controller", c.Privacy.Controller)
	required("$.privacy.controller_cy", c.Privacy.ControllerCy)
	required("$.privacy.data_protection_officer.name", c.Privacy.DPO.Name)
	required("$.privacy.data_protection_officer.name_cy", c.Privacy.DPO.NameCy)
	email("$.privacy.data_protection_officer.email", c.Privacy.DPO.Email, true)
	phone("$.privacy.data_protection_officer.phone", c.Privacy.DPO.Phone, false)
	for i, b := range c.OtherBodies {
		path := fmt.Sprintf("$.other_bodies[%d]", i)
		for _, f := range []struct{ key, v string }{{"name", b.Name}, {"name_cy", b.NameCy},
			{"description", b.Description}, {"description_cy", b.DescriptionCy}, {"address", b.Address}} {
			required(path+"."+f.key, f.v)
		}
	}
	seen := map[string]bool{}
	for i, h := range c.Hosts {
		path := fmt.Sprintf("$.hosts[%d]", i)
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		switch {
		case !hostName.MatchString(h):
			errs = append(errs, s.errorf(path, "hosts: %q is not a host name (no scheme, port or path: e.g. whistle.council.gov.uk)", c.Hosts[i]))
		case seen[h]:
			errs = append(errs, s.errorf(path, "hosts: %q is listed twice", h))
		}
		seen[h], c.Hosts[i] = true, h
	}
	return &c, errs
}

// hostName is a DNS name or IPv4 address as a Host header carries it, without the port.
var hostName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// PhoneNumber reports whether s is a phone number as a council prints one: digits, spaces and
// hyphens, with an optional leading +.
func PhoneNumber(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-':
		default:
			return false
		}
	}
	return digits > 0
}
