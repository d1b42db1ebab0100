// What becomes of a message: the settlement a handler returns and settle,
// the one place it turns into Ack, Term or Nak.

package dispatch

import (
	"errors"
	"time"

	"github.com/jetrun/jetrun/internal/textutil"
)

// settlement is what becomes of a message; settle applies it.
type settlement struct {
	kind   settleKind
	delay  time.Duration
	reason string
}

type settleKind int

const (
	settleAck     settleKind = iota // done (succeeded, cancelled, duplicate)
	settleTerm                      // never redeliver (rejected, dead)
	settleNak                       // redeliver after delay (retry, transient trouble)
	settleRelease                   // shutdown: redeliver now, to the next owner
	settleNone                      // ownership lost: the message is someone else's
)

func ack() settlement                { return settlement{kind: settleAck} }
func term(reason string) settlement  { return settlement{kind: settleTerm, reason: reason} }
func nak(d time.Duration) settlement { return settlement{kind: settleNak, delay: d} }
func release() settlement            { return settlement{kind: settleRelease} }
func transient(err error) settlement {
	return settlement{kind: settleNak, delay: 2 * time.Second, reason: err.Error()}
}
func lostOrTransient(err error) settlement {
	if errors.Is(err, errLostOwnership) {
		return settlement{kind: settleNone, reason: err.Error()}
	}
	return transient(err)
}

// settle maps an outcome to the message acknowledgement, in one place.
func (d *Dispatcher) settle(j *job, s settlement) {
	var err error
	switch s.kind {
	case settleAck:
		err = j.msg.Ack()
	case settleTerm:
		err = j.msg.TermWithReason(textutil.Truncate(s.reason, 256))
	case settleNak:
		if s.reason != "" {
			j.log.Warn().Str("reason", s.reason).Dur("delay", s.delay).Msg("job will be redelivered")
		}
		err = j.msg.NakWithDelay(s.delay)
	case settleRelease:
		err = j.msg.Nak()
	case settleNone:
		j.log.Warn().Str("reason", s.reason).Msg("stopped handling the job")
	}
	if err != nil {
		j.log.Warn().Err(err).Msg("settle message")
	}
}
