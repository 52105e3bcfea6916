#pragma once
// `tend monit`: a live full-screen dashboard of the daemon's apps in the terminal. The
// instance table (status, pid, cpu, memory, restarts, uptime) and the selected instance's
// log tail, refreshed every second; keys restart, stop and start the selected app.
//
// Plain ANSI sequences and termios, so it works in any terminal and over ssh: the alternate
// screen, changed rows rewritten in place (never a full clear per frame), autowrap off so a
// narrow terminal clips instead of scrolling. The terminal is restored on q, Ctrl-C,
// SIGTERM, SIGHUP and errors; Ctrl-Z suspends with the terminal restored.

namespace tend {

// Returns the exit status: 0 after q or Ctrl-C; 1 when the daemon cannot be started (it is
// started when none runs, as `tend list` does) or the terminal fails; 2 when stdin or
// stdout is not a terminal (nothing is drawn: scripts want `tend list --json`).
// `interval`: the refresh period as typed ("2", "0.5", "500ms"), 100ms to 1h; anything else
// is a usage error (exit status 2).
int cmdMonit(const std::string& interval = "1s");

}  // namespace tend
