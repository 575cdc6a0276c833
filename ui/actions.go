package ui

import (
	"context"
	"errors"
	"strconv"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/stackctl/stackctl/runtime/control"
)

// Navigation requests a view makes of the root.
type (
	openWorkersMsg struct{ app string }
	openLogsMsg    struct{ source string }
)

func reloadCmd(c *common, app string) tea.Cmd {
	return c.run("reload "+app, func(ctx context.Context) (control.Result, error) {
		return c.backend.ReloadApp(ctx, app)
	})
}

func restartCmd(c *common, app string, id int) tea.Cmd {
	what := "restart " + app + "/" + strconv.Itoa(id)
	return c.run(what, func(ctx context.Context) (control.Result, error) {
		return c.backend.RestartWorker(ctx, app, id)
	})
}

// scaleCmd adds or removes one worker; removing the last one stops the app,
// so that asks first (the binding carries the question).
func scaleCmd(c *common, b *Binding, a action, app *control.App) tea.Cmd {
	n := app.Desired + 1
	if a == actScaleDown {
		n = app.Desired - 1
	}
	name := app.Name
	if n < 0 {
		return func() tea.Msg {
			return resultMsg{what: "scale " + name, err: errors.New("it has no workers")}
		}
	}
	cmd := c.run("scale "+name+" to "+strconv.Itoa(n), func(ctx context.Context) (control.Result, error) {
		return c.backend.Scale(ctx, name, n)
	})
	return c.confirm(b, a == actScaleDown && n == 0, name, cmd)
}
