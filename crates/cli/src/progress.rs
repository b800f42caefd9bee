//! A per-layer progress bar on stderr, fed by the executor's per-node
//! callback. Shown only when stderr is a terminal and the command does not
//! print JSON; otherwise every call is a no-op.

use cryptflow_exec::executor::NodeEvent;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Progress over `passes` executions of a graph (one per batch chunk).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    passes: usize,
    pass: usize,
    last_index: Option<usize>,
    /// Seconds spent in each node, in the order they ran (all passes).
    pub node_seconds: Vec<(String, f64)>,
}

impl Progress {
    /// A bar labelled `what` over `passes` passes of the graph; hidden unless
    /// stderr is a terminal and `json` is false.
    pub fn new(what: &str, passes: usize, json: bool) -> Progress {
        let show = !json && std::io::stderr().is_terminal();
        Progress::with_bar(show.then(|| make_bar(what)), passes)
    }

    fn with_bar(bar: Option<ProgressBar>, passes: usize) -> Progress {
        Progress {
            bar,
            passes: passes.max(1),
            pass: 0,
            last_index: None,
            node_seconds: Vec::new(),
        }
    }

    /// Records one finished node.
    pub fn node(&mut self, ev: &NodeEvent) {
        self.node_seconds.push((ev.node.name.clone(), ev.seconds));
        let Some(bar) = &self.bar else { return };
        if self.last_index.is_some_and(|last| ev.index <= last) {
            self.pass += 1;
        }
        self.last_index = Some(ev.index);
        let passes = self.passes.max(self.pass + 1);
        bar.set_length((passes * ev.total) as u64);
        bar.set_position((self.pass * ev.total + ev.index + 1) as u64);
        if passes > 1 {
            bar.set_message(format!("batch {}/{passes}: {}", self.pass + 1, ev.node.name));
        } else {
            bar.set_message(ev.node.name.clone());
        }
    }

    /// Removes the bar (on success and on error alike).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn make_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} layers  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// How many passes of a graph with input batch `batch` run `samples` samples.
pub fn passes(samples: usize, batch: usize) -> usize {
    samples.div_ceil(batch.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptflow_ir::{Node, Op};

    #[test]
    fn counts_passes_and_positions() {
        let bar = ProgressBar::hidden();
        let mut p = Progress::with_bar(Some(bar.clone()), 2);
        let node = Node {
            name: "conv".into(),
            op: Op::Relu,
            inputs: vec![],
            shape: vec![1],
        };
        for pass in 0..3 {
            for index in 0..4 {
                p.node(&NodeEvent {
                    index,
                    total: 4,
                    node: &node,
                    seconds: 0.0,
                });
                assert_eq!(bar.position(), (pass * 4 + index + 1) as u64);
            }
        }
        // more passes than announced stretch the bar
        assert_eq!(bar.length(), Some(12));
        assert_eq!(passes(10, 4), 3);
        assert_eq!(passes(0, 4), 1);
        Progress::with_bar(None, 1).node(&NodeEvent {
            index: 0,
            total: 1,
            node: &node,
            seconds: 0.0,
        });
    }
}
