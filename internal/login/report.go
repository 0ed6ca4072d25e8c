package login

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/events"
)

// ReportAccessProblem returns an OnEnd that publishes an AccessProblem
// (kind token-refused, extension auth "user") on
// skattekonto.events.service.AccessProblem when a login ends without a
// logout. The event's id is derived from the login's reference, so it is
// published once however often (and by whichever replica) it is reported.
func ReportAccessProblem(js jetstream.JetStream, log zerolog.Logger) func(context.Context, Ended) {
	return func(ctx context.Context, e Ended) {
		if e.ByUser {
			return
		}
		ev := AccessProblemEvent(e)
		m, err := ev.Msg()
		if err == nil {
			_, err = js.PublishMsg(ctx, m)
		}
		if err != nil {
			log.Error().Err(err).Str("login", e.Session).Msg("could not report the end of a user's login")
		}
	}
}

// AccessProblemEvent is the event that reports the end of a login.
func AccessProblemEvent(e Ended) events.Event {
	detail := fmt.Sprintf("a user's login ended (%s): its accounts %s are no longer fetched with it until the user logs in again",
		e.Reason, strings.Join(e.Accounts, ", "))
	return events.NewAccessProblem(events.Origin{FetchID: e.Session, Auth: contract.AuthUser, Time: e.At},
		events.Problem{Kind: events.ProblemTokenRefused, Detail: detail, Since: e.At}, e.Session).Event
}
