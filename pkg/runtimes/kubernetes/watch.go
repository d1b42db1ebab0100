package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

var errClosed = errors.New("kubernetes runtime: closed")

// indexJobName indexes pods by the name of their Job.
const indexJobName = "jetrun.io/job-name"

// watch starts, once, the runtime's informers: Jobs and pods of the
// namespace that carry LabelManagedBy=jetrun, so one watch per resource
// serves every Wait and followed log of the runtime instance. Informers
// re-list and re-watch on their own when a watch drops or expires. watch
// returns once both caches are synced, or when ctx ends.
func (r *Runtime) watch(ctx context.Context) error {
	r.watchOnce.Do(func() {
		f := informers.NewSharedInformerFactoryWithOptions(r.client, 0,
			informers.WithNamespace(r.cfg.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.LabelSelector = LabelManagedBy + "=" + ManagedBy
			}),
			informers.WithTransform(func(obj any) (any, error) {
				if m, err := meta.Accessor(obj); err == nil {
					m.SetManagedFields(nil) // memory: never read
				}
				return obj, nil
			}))
		r.jobInf = f.Batch().V1().Jobs().Informer()
		r.podInf = f.Core().V1().Pods().Informer()
		_ = r.podInf.AddIndexers(cache.Indexers{ // fails only once started
			indexJobName: func(obj any) ([]string, error) {
				if p, ok := obj.(*corev1.Pod); ok && p.Labels[batchv1.JobNameLabel] != "" {
					return []string{p.Labels[batchv1.JobNameLabel]}, nil
				}
				return nil, nil
			}})
		r.jobInf.AddEventHandler(r.handler(func(obj any) string {
			if j, ok := obj.(*batchv1.Job); ok {
				return j.Name
			}
			return ""
		}))
		r.podInf.AddEventHandler(r.handler(func(obj any) string {
			if p, ok := obj.(*corev1.Pod); ok {
				return p.Labels[batchv1.JobNameLabel]
			}
			return ""
		}))
		r.mu.Lock()
		r.factory = f
		r.mu.Unlock()
		f.Start(r.stop)
	})
	if r.jobInf.HasSynced() && r.podInf.HasSynced() {
		return nil
	}
	synced, give := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(give)
		select {
		case <-ctx.Done():
		case <-r.stop:
		case <-synced:
		}
	}()
	ok := cache.WaitForCacheSync(give, r.jobInf.HasSynced, r.podInf.HasSynced)
	close(synced)
	if !ok {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errClosed
	}
	return nil
}

// handler wakes the waiters of the Job an object belongs to.
func (r *Runtime) handler(jobOf func(any) string) cache.ResourceEventHandler {
	notify := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if name := jobOf(obj); name != "" {
			r.notify(name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}
}

func (r *Runtime) subscribe(name string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	if r.subs[name] == nil {
		r.subs[name] = map[chan struct{}]struct{}{}
	}
	r.subs[name][ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs[name], ch)
		if len(r.subs[name]) == 0 {
			delete(r.subs, name)
		}
		r.mu.Unlock()
	}
}

func (r *Runtime) notify(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.subs[name] {
		select {
		case ch <- struct{}{}:
		default: // already pending
		}
	}
}

// observe calls check with the Job of that name and its pods, from the
// watch's cache, now and after every change (and at least every second),
// until check returns true. A Job the cache does not hold (created a
// moment ago, or deleted) is asked of the API server; if that does not
// know it either, observe returns an error wrapping runtimes.ErrNotFound.
// Errors of the API server are retried until ctx ends: the watch itself
// is re-established by the informers.
func (r *Runtime) observe(ctx context.Context, name string, check func(*batchv1.Job, []*corev1.Pod) bool) error {
	if err := r.watch(ctx); err != nil {
		return err
	}
	ch, unsubscribe := r.subscribe(name)
	defer unsubscribe()
	for {
		job, pods, err := r.current(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("job %s: %w", name, runtimes.ErrNotFound)
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Debug().Err(err).Str("job", name).Msg("kubernetes: get job; retrying")
		case check(job, pods):
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ch:
		case <-t.C:
		case <-r.stop:
			t.Stop()
			return errClosed
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// current returns the Job and the pods it controls, from the cache; a Job
// missing from the cache is read from the API server.
func (r *Runtime) current(ctx context.Context, name string) (*batchv1.Job, []*corev1.Pod, error) {
	var job *batchv1.Job
	obj, ok, err := r.jobInf.GetIndexer().GetByKey(r.cfg.Namespace + "/" + name)
	if err == nil && ok {
		job, _ = obj.(*batchv1.Job)
	}
	if job == nil {
		j, err := r.client.BatchV1().Jobs(r.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		job = j
	}
	objs, err := r.podInf.GetIndexer().ByIndex(indexJobName, name)
	if err != nil {
		return nil, nil, err
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return job, controlledBy(job, pods), nil
}
