// Launching an attempt: the "starting" record, the spec, Runtime.Start.

package dispatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// launch starts the next attempt: the handle goes into the record before
// the runtime is asked for anything.
func (j *job) launch() settlement {
	h := runtimes.Handle{Runtime: j.rec.Runtime, Name: runtimes.HandleName(j.id, j.rec.Attempt+1)}
	if nl, ok := j.rt.(runtimes.NodeLocal); ok {
		h.Node = nl.Node()
	}
	in := j.input(lifecycle.Launching)
	in.Handle = h
	if s, done := j.apply(in); done {
		return s // cancelled before launch, or the record could not be written
	}
	return j.startAndWatch()
}

// spec builds the runtime spec of the current attempt.
func (j *job) spec() (runtimes.Spec, error) {
	d := j.d
	plan, err := d.prepare(&j.sub)
	if err != nil {
		return runtimes.Spec{}, fmt.Errorf("%w: %w", errPermanent, err)
	}
	env := map[string]string{}
	maps.Copy(env, d.cfg.WorkerEnv)
	maps.Copy(env, plan.Env)
	maps.Copy(env, map[string]string{
		jobs.EnvJobID:   j.id,
		jobs.EnvKind:    j.rec.Kind,
		jobs.EnvAttempt: strconv.Itoa(j.rec.Attempt),
		jobs.EnvPrefix:  d.names.Prefix(),
		jobs.EnvRuntime: j.rec.Runtime,
	})
	secrets := map[string]string{}
	maps.Copy(secrets, d.cfg.WorkerSecrets)
	var attemptSecrets []string
	if iss := d.cfg.WorkerAuth; iss != nil {
		// The worker's own identity replaces the dispatcher's.
		for _, k := range natsconn.IdentityVars {
			delete(env, k)
			delete(secrets, k)
		}
		secrets[natsconn.EnvToken] = iss.Token(j.id, j.rec.Attempt, time.Now().Add(j.workerIdentityTTL(plan.Resources.Timeout)))
		attemptSecrets = []string{natsconn.EnvToken}
	}
	for _, ref := range plan.Secrets {
		v, ok := "", false
		if d.cfg.Credentials != nil {
			v, ok = d.cfg.Credentials(ref.Credential)
		}
		if !ok {
			return runtimes.Spec{}, fmt.Errorf("%w: credential %q is not configured on dispatcher %s", errPermanent, ref.Credential, d.cfg.ID)
		}
		secrets[ref.Env] = v
	}
	image := plan.Image
	if image == "" {
		image = d.cfg.WorkerImage
	}
	labels := map[string]string{}
	maps.Copy(labels, j.sub.Labels)
	labels[runtimes.LabelJobID] = j.id
	labels[runtimes.LabelAttempt] = strconv.Itoa(j.rec.Attempt)
	labels[runtimes.LabelKind] = j.rec.Kind
	return runtimes.Spec{Handle: *j.rec.Handle, JobID: j.id, Kind: j.rec.Kind, Attempt: j.rec.Attempt,
		Image: image, Command: plan.Command, Env: env, Secrets: secrets, AttemptSecrets: attemptSecrets, Resources: plan.Resources, Labels: labels}, nil
}

func (j *job) startAndWatch() settlement {
	if j.cancelRequested() {
		return j.cancelled(nil, "cancelled before launch")
	}
	spec, err := j.spec()
	if err != nil {
		return j.attemptFailed(err.Error(), nil, true)
	}
	ctx, cancel := opCtx()
	defer cancel()
	h, err := j.rt.Start(ctx, spec)
	if err != nil {
		j.log.Warn().Err(err).Str("handle", spec.Handle.Name).Msg("launch failed")
		// A launch that failed half-way (a timeout, say) may still bring
		// the workload up; make sure it does not run beside the retry.
		sctx, scancel := context.WithTimeout(context.Background(), j.d.cfg.StopGrace+30*time.Second)
		serr := j.rt.Stop(sctx, spec.Handle, 0)
		scancel()
		if serr != nil {
			// Not sure it is gone: retry this attempt later rather than
			// start the next one beside it.
			return transient(fmt.Errorf("launch %s failed (%v) and clean-up failed: %w", spec.Handle.Name, err, serr))
		}
		return j.attemptFailed("launch: "+err.Error(), nil, errors.Is(err, runtimes.ErrInvalidSpec))
	}
	if m := j.d.cfg.Metrics; m != nil && j.rec.Attempt == 1 {
		m.LaunchLatency.WithLabelValues(j.rt.Name()).Observe(time.Since(j.meta.Timestamp).Seconds())
	}
	j.log.Info().Int("attempt", j.rec.Attempt).Str("handle", h.Name).Msg("launched")
	j.saveHandle(h)
	j.failpoint("launched")
	return j.watch(h, spec.Resources.Timeout)
}

// saveHandle records the handle Start returned when it carries more than
// the record's (the runtime's own id: a Batch job id, a container id), so
// that a dispatcher adopting the job finds the workload by id rather than
// by name. It is no transition and publishes no event; if the record
// changed meanwhile it is left alone, the name still finds the workload.
func (j *job) saveHandle(h runtimes.Handle) {
	if j.rec.Handle == nil || *j.rec.Handle == h {
		return
	}
	next := lifecycle.Clone(j.rec)
	next.Handle = &h
	next.Updated = time.Now().UTC()
	ctx, cancel := opCtx()
	defer cancel()
	rev, err := j.d.kv.Update(ctx, j.id, encode(&next), j.rev)
	if err != nil {
		j.log.Debug().Err(err).Msg("record the runtime's id of the workload")
		return
	}
	j.rec, j.rev = next, rev
}
