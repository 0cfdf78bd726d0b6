package kurrenttest

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits (style §8).
const (
	// subscriptionBatchMax is the events a subscription takes from the log at once before it
	// sends them; the gRPC stream's flow control then holds it back for a slow client.
	subscriptionBatchMax = 256
	// appendEventsMax bounds the events of one append; KurrentDB bounds bytes only
	// (MaxAppendBytes), this keeps a broken client from growing the server's memory.
	appendEventsMax = 100_000
	// serverVersion is the KurrentDB release whose behaviour the server follows, as
	// GetSupportedMethods reports it.
	serverVersion = "24.10.0"
)

// streams implements the Streams service over a memLog.
type streams struct {
	api.UnimplementedStreamsServer
	log   *memLog
	calls *callCounts
	done  <-chan struct{} // closed by Server.Close: ends subscriptions
	drops *dropper
}

// Append is KurrentDB's client-streaming append: the options first, then each event.
func (s *streams) Append(srv api.Streams_AppendServer) error {
	s.calls.add("Append")
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil || len(opts.GetStreamIdentifier().GetStreamName()) == 0 {
		return status.Error(codes.InvalidArgument, "append: the first message must be the options, with a stream name")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var want expectation
	switch v := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		want = expectation{kind: expectRevision, revision: v.Revision}
	case *api.AppendReq_Options_NoStream:
		want = expectation{kind: expectNoStream}
	case *api.AppendReq_Options_StreamExists:
		want = expectation{kind: expectStreamExists}
	case *api.AppendReq_Options_Any:
		want = expectation{kind: expectAny}
	default:
		return status.Error(codes.InvalidArgument, "append: no expected revision")
	}
	var events []proposed
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		m := req.GetProposedMessage()
		if m == nil {
			return status.Error(codes.InvalidArgument, "append: options sent twice")
		}
		if len(events) == appendEventsMax {
			return status.Errorf(codes.InvalidArgument, "append: more than %d events", appendEventsMax)
		}
		id, err := fromProtoUUID(m.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "append: event %d: %v", len(events), err)
		}
		md := m.GetMetadata()
		if md["type"] == "" || md["content-type"] == "" {
			return status.Errorf(codes.InvalidArgument, "append: event %d: metadata needs type and content-type", len(events))
		}
		events = append(events, proposed{id: id, metadata: md, custom: m.GetCustomMetadata(), data: m.GetData()})
	}
	out, err := s.log.append(stream, want, events, time.Now())
	switch {
	case err != nil: // too large, or a corrupted idempotency
		return status.Error(codes.InvalidArgument, err.Error())
	case out.wrongVersion:
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(want, out)}})
	}
	success := &api.AppendResp_Success{
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: out.position, PreparePosition: out.position}},
	}
	if out.exists {
		success.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: out.current}
	} else {
		success.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		success.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: success}})
}

// wrongExpectedVersion fills both the current fields and the 20.6.0 ones, as KurrentDB does.
func wrongExpectedVersion(want expectation, out appendOutcome) *api.AppendResp_WrongExpectedVersion {
	w := &api.AppendResp_WrongExpectedVersion{}
	if out.exists {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: out.current}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: out.current}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch want.kind {
	case expectRevision:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: want.revision}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: want.revision}
	case expectNoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expectStreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return w
}

// Read serves stream and $all reads (a count) and subscriptions.
func (s *streams) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	s.calls.add("Read")
	opts := req.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "read: no options")
	}
	r := reader{log: s.log, srv: srv, resolve: opts.GetResolveLinks(),
		stringIDs: opts.GetUuidOption().GetString_() != nil}
	filter, err := newFilter(opts.GetFilter())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	forwards := opts.GetReadDirection() == api.ReadReq_Options_Forwards
	sub := opts.GetSubscription() != nil
	if sub && !forwards {
		return status.Error(codes.InvalidArgument, "read: a subscription reads forwards")
	}
	if st := opts.GetStream(); st != nil {
		if filter != nil {
			return status.Error(codes.InvalidArgument, "read: filters apply to $all only")
		}
		stream := string(st.GetStreamIdentifier().GetStreamName())
		if stream == "" {
			return status.Error(codes.InvalidArgument, "read: no stream name")
		}
		if sub {
			return r.subscribeStream(srv.Context(), s.done, s.drops.current(), stream, st)
		}
		return r.readStream(stream, st, forwards, opts.GetCount())
	}
	all := opts.GetAll()
	if all == nil {
		return status.Error(codes.InvalidArgument, "read: neither a stream nor $all")
	}
	if sub {
		return r.subscribeAll(srv.Context(), s.done, s.drops.current(), all, filter)
	}
	return r.readAll(all, forwards, opts.GetCount(), filter)
}

// reader sends the events of one Read call.
type reader struct {
	log       *memLog
	srv       api.Streams_ReadServer
	resolve   bool
	stringIDs bool
}

func (r *reader) readStream(stream string, st *api.ReadReq_Options_StreamOptions, forwards bool, count uint64) error {
	from := int64(0)
	switch v := st.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = int64(v.Revision)
	case *api.ReadReq_Options_StreamOptions_End:
		from = -1
	}
	events, found := r.log.streamRange(stream, from, forwards, count)
	if !found {
		return r.srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)}}}})
	}
	return r.send(events)
}

func (r *reader) readAll(all *api.ReadReq_Options_AllOptions, forwards bool, count uint64, f *filter) error {
	var from uint64
	end := false
	switch v := all.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		from = v.Position.GetCommitPosition()
	case *api.ReadReq_Options_AllOptions_End:
		end = true
	}
	return r.send(r.log.allRange(from, end, forwards, count, f.keep))
}

func (r *reader) send(events []*record) error {
	for _, e := range events {
		if err := r.srv.Send(r.event(e)); err != nil {
			return err
		}
	}
	return nil
}

// subscribeStream sends the confirmation, the stored events after the start revision, then
// live ones, until the client goes or the server closes.
func (r *reader) subscribeStream(ctx context.Context, done, drop <-chan struct{}, stream string, st *api.ReadReq_Options_StreamOptions) error {
	var next uint64
	switch v := st.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		next = v.Revision + 1 // exclusive, as KurrentDB's "after revision"
	case *api.ReadReq_Options_StreamOptions_End:
		next = r.log.streamEnd(stream)
	}
	if err := r.confirm(); err != nil {
		return err
	}
	caughtUp := false
	for { // until ctx or done ends the subscription, or a send fails
		batch, appended := r.log.streamAfter(stream, next, subscriptionBatchMax)
		if len(batch) == 0 {
			if !caughtUp {
				if err := r.srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
					return err
				}
				caughtUp = true
			}
			select {
			case <-appended:
				continue
			case <-ctx.Done():
				return nil
			case <-done:
				return status.Error(codes.Unavailable, "server closed")
			case <-drop:
				return status.Error(codes.Unavailable, "subscription dropped")
			}
		}
		if err := r.send(batch); err != nil {
			return err
		}
		next += uint64(len(batch))
	}
}

// subscribeAll is subscribeStream for $all, with a filter and its checkpoints.
func (r *reader) subscribeAll(ctx context.Context, done, drop <-chan struct{}, all *api.ReadReq_Options_AllOptions, f *filter) error {
	var p uint64
	var start, end bool
	switch v := all.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		p = v.Position.GetCommitPosition() // exclusive, as KurrentDB's "after position"
	case *api.ReadReq_Options_AllOptions_End:
		end = true
	default:
		start = true
	}
	next := r.log.allIndex(p, start, end)
	if err := r.confirm(); err != nil {
		return err
	}
	caughtUp := false
	scanned := 0 // events looked at since the last checkpoint
	// Until ctx or done ends the subscription, or a send fails.
	for {
		batch, appended := r.log.allAfter(next, subscriptionBatchMax)
		if len(batch) == 0 {
			if !caughtUp {
				if err := r.srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
					return err
				}
				caughtUp = true
			}
			select {
			case <-appended:
				continue
			case <-ctx.Done():
				return nil
			case <-done:
				return status.Error(codes.Unavailable, "server closed")
			case <-drop:
				return status.Error(codes.Unavailable, "subscription dropped")
			}
		}
		for _, e := range batch {
			if f.keep(e) {
				if err := r.srv.Send(r.event(e)); err != nil {
					return err
				}
			}
			scanned++
			if f != nil && scanned >= f.checkpointEvery {
				scanned = 0
				if err := r.srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
					CommitPosition: e.position, PreparePosition: e.position}}}); err != nil {
					return err
				}
			}
		}
		next += len(batch)
	}
}

func (r *reader) confirm() error {
	return r.srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString()}}})
}

// event is the ReadResp of e, with the event it links to when links are resolved.
func (r *reader) event(e *record) *api.ReadResp {
	ev := &api.ReadResp_ReadEvent{
		Event:    r.recorded(e),
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.position},
	}
	if r.resolve && e.metadata["type"] == linkType {
		ev.Link = ev.Event
		ev.Event = nil
		if target := r.log.resolve(e); target != nil {
			ev.Event = r.recorded(target)
		}
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: ev}}
}

func (r *reader) recorded(e *record) *api.ReadResp_ReadEvent_RecordedEvent {
	return &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               toProtoUUID(e.id, r.stringIDs),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.stream)},
		StreamRevision:   e.revision,
		PreparePosition:  e.position,
		CommitPosition:   e.position,
		Metadata:         e.metadata,
		CustomMetadata:   e.custom,
		Data:             e.data,
	}
}

// dropper ends the subscriptions running when drop is called.
type dropper struct {
	mu sync.Mutex
	c  chan struct{}
}

func (d *dropper) current() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c
}

func (d *dropper) drop() {
	d.mu.Lock()
	close(d.c)
	d.c = make(chan struct{})
	d.mu.Unlock()
}

// filter is a $all subscription's or read's server-side filter.
type filter struct {
	onType          bool // match the event type, not the stream name
	prefixes        []string
	re              *regexp.Regexp
	checkpointEvery int // events scanned between checkpoints
}

func newFilter(o *api.ReadReq_Options_FilterOptions) (*filter, error) {
	if o == nil {
		return nil, nil
	}
	f := &filter{}
	expr := o.GetStreamIdentifier()
	if expr == nil {
		expr, f.onType = o.GetEventType(), true
	}
	if expr == nil {
		return nil, errors.New("read: a filter needs a stream identifier or an event type expression")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, err
		}
		f.re = re
	}
	window := 32 // KurrentDB's default max search window
	if o.GetMax() > 0 {
		window = int(o.GetMax())
	}
	f.checkpointEvery = window * max(1, int(o.GetCheckpointIntervalMultiplier()))
	return f, nil
}

func (f *filter) keep(e *record) bool {
	if f == nil {
		return true
	}
	s := e.stream
	if f.onType {
		s = e.metadata["type"]
	}
	if f.re != nil && f.re.MatchString(s) {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// serverFeatures answers the client's GetSupportedMethods at connect.
type serverFeatures struct {
	serverfeatures.UnimplementedServerFeaturesServer
	calls *callCounts
}

func (f *serverFeatures) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	f.calls.add("GetSupportedMethods")
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: serverVersion,
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "read", ServiceName: svc},
			{MethodName: "append", ServiceName: svc},
			{MethodName: "getsupportedmethods", ServiceName: "event_store.client.server_features.serverfeatures"},
		},
	}, nil
}

func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var id uuid.UUID
		putInt64(id[:8], st.GetMostSignificantBits())
		putInt64(id[8:], st.GetLeastSignificantBits())
		return id, nil
	}
	if s := u.GetString_(); s != "" {
		return uuid.Parse(s)
	}
	return uuid.UUID{}, errors.New("no event id")
}

func toProtoUUID(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: getInt64(id[:8]), LeastSignificantBits: getInt64(id[8:])}}}
}

func putInt64(b []byte, v int64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getInt64(b []byte) int64 {
	var v int64
	for _, c := range b[:8] {
		v = v<<8 | int64(c)
	}
	return v
}
