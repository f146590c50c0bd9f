package routing_test

import (
	"fmt"
	"log"
	"time"

	"candour/internal/routing"
)

// The case Candour was designed from: a councillor passes on concerns from
// four social workers about the child and family assessment team, naming the
// Strategic Director.
func ExamplePolicy_Decide() {
	p, err := routing.Load("../../policies")
	if err != nil {
		log.Fatal(err) // every problem as file:line: reason
	}
	d, err := p.Decide(routing.Facts{
		Channel:                "councillor",
		Mode:                   "open",
		ServiceArea:            "childrens-services",
		NamedPeople:            []string{"huw.pritchard@enghraifft.example"},
		PassingOnStaffConcerns: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rule:", d.Rule)
	for _, h := range d.Route {
		fmt.Printf("route: %s (%s)\n", h.Name, h.Role)
	}
	fmt.Println("give the anonymous link:", d.GiveAnonymousLink)

	received := time.Date(2026, time.December, 17, 9, 30, 0, 0, p.Calendar.Location())
	fmt.Println("acknowledge by:", d.Clocks.Deadline(routing.ClockAcknowledge, received).Format(time.DateTime))
	fmt.Println("decide by:", d.Clocks.Deadline(routing.ClockDecide, received).Format(time.DateTime))
	// Output:
	// rule: councillor-passing-on-staff-concerns
	// route: Elin Rowlands (monitoring_officer)
	// give the anonymous link: true
	// acknowledge by: 2026-12-24 09:30:00
	// decide by: 2027-01-12 09:30:00
}
