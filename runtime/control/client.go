package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client talks to a running stack's control socket. It is safe for
// concurrent use.
type Client struct {
	socket string
	http   *http.Client
}

// ErrNotRunning means nothing is listening on the control socket.
var ErrNotRunning = errors.New("no stackctl is running")

// NewClient returns a client for the control socket at path. It does not
// connect until a call is made.
func NewClient(socket string) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", socket)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
				return nil, fmt.Errorf("%w at %s (start one with `stackctl serve`)", ErrNotRunning, socket)
			}
			return nil, err
		}
		return c, nil
	}
	return &Client{
		socket: socket,
		http:   &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second}},
	}
}

// Socket is the control socket's path.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://stackctl/v1"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e Error
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("control: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control: decode %s: %w", path, err)
	}
	return nil
}

func (c *Client) post(ctx context.Context, path string, in any, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	return c.do(ctx, http.MethodPost, path, body, out)
}

// Snapshot returns the whole state of the stack.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	var s Snapshot
	if err := c.do(ctx, http.MethodGet, "/snapshot", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// WorkerHistory returns one worker's per-second history.
func (c *Client) WorkerHistory(ctx context.Context, app string, id int) (History, error) {
	var h History
	err := c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(app)+"/workers/"+strconv.Itoa(id)+"/history", nil, &h)
	return h, err
}

// RestartWorker gracefully replaces one worker.
func (c *Client) RestartWorker(ctx context.Context, app string, id int) (Result, error) {
	var r Result
	err := c.post(ctx, "/apps/"+url.PathEscape(app)+"/workers/"+strconv.Itoa(id)+"/restart", nil, &r)
	return r, err
}

// ReloadApp chain-reloads an app.
func (c *Client) ReloadApp(ctx context.Context, app string) (Result, error) {
	var r Result
	err := c.post(ctx, "/apps/"+url.PathEscape(app)+"/reload", nil, &r)
	return r, err
}

// Scale sets an app's number of workers.
func (c *Client) Scale(ctx context.Context, app string, workers int) (Result, error) {
	var r Result
	err := c.post(ctx, "/apps/"+url.PathEscape(app)+"/scale", map[string]int{"workers": workers}, &r)
	return r, err
}

// SetServerState sets an upstream server's administrative state: "up",
// "drain" or "down".
func (c *Client) SetServerState(ctx context.Context, upstream, server, state string) (Result, error) {
	var r Result
	err := c.post(ctx, "/upstreams/"+url.PathEscape(upstream)+"/servers/"+url.PathEscape(server)+"/state", map[string]string{"state": state}, &r)
	return r, err
}

// SetWeight sets an upstream server's weight.
func (c *Client) SetWeight(ctx context.Context, upstream, server string, weight int) (Result, error) {
	var r Result
	err := c.post(ctx, "/upstreams/"+url.PathEscape(upstream)+"/servers/"+url.PathEscape(server)+"/weight", map[string]int{"weight": weight}, &r)
	return r, err
}

// Config returns the running configuration's text.
func (c *Client) Config(ctx context.Context) (ConfigText, error) {
	var t ConfigText
	err := c.do(ctx, http.MethodGet, "/config", nil, &t)
	return t, err
}

// ValidateConfig checks a configuration text without applying it.
func (c *Client) ValidateConfig(ctx context.Context, text string) (ValidateResult, error) {
	var r ValidateResult
	err := c.do(ctx, http.MethodPost, "/config/validate", strings.NewReader(text), &r)
	return r, err
}

// ApplyConfig validates and applies a configuration text; an empty text
// reloads the configuration file from disk. Invalid configurations change
// nothing and come back with their errors.
func (c *Client) ApplyConfig(ctx context.Context, text string) (ApplyResult, error) {
	var r ApplyResult
	err := c.do(ctx, http.MethodPost, "/config/apply", strings.NewReader(text), &r)
	return r, err
}

// Follow is an open NDJSON stream of T.
type Follow[T any] struct {
	body io.ReadCloser
	sc   *bufio.Scanner
}

// Next blocks for the next message. It returns io.EOF when the stack ends
// the stream.
func (f *Follow[T]) Next() (T, error) {
	var v T
	if !f.sc.Scan() {
		if err := f.sc.Err(); err != nil {
			return v, err
		}
		return v, io.EOF
	}
	if err := json.Unmarshal(f.sc.Bytes(), &v); err != nil {
		return v, fmt.Errorf("control: decode stream: %w", err)
	}
	return v, nil
}

// Close ends the stream.
func (f *Follow[T]) Close() error { return f.body.Close() }

func follow[T any](ctx context.Context, c *Client, path string) (*Follow[T], error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://stackctl/v1"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e Error
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("control: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	return &Follow[T]{body: resp.Body, sc: sc}, nil
}

// Stream subscribes to snapshots (one per interval) and events.
func (c *Client) Stream(ctx context.Context, interval time.Duration) (*Follow[StreamMessage], error) {
	return follow[StreamMessage](ctx, c, "/stream?interval="+interval.String())
}

// Logs returns the last n lines of a log source (an app's name, "access" or
// "events") and, with follow, keeps streaming new ones.
func (c *Client) Logs(ctx context.Context, source string, n int, followNew bool) (*Follow[LogBatch], error) {
	return follow[LogBatch](ctx, c, "/logs/"+url.PathEscape(source)+"?n="+strconv.Itoa(n)+"&follow="+strconv.FormatBool(followNew))
}

// Events returns the last n events and, with follow, keeps streaming.
func (c *Client) Events(ctx context.Context, n int, followNew bool) (*Follow[EventBatch], error) {
	return follow[EventBatch](ctx, c, "/events?n="+strconv.Itoa(n)+"&follow="+strconv.FormatBool(followNew))
}
