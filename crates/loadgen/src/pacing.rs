//! When each sender sends: a fixed schedule (open loop) or back to back (closed loop).
//!
//! Paced runs put message `i` at `start + i / rate` and deal the messages out to the senders in
//! turn. A sender that is still waiting for an answer when its next message is due sends it late,
//! but its latency is still counted from when it was due: a slow server cannot make the schedule
//! wait and so hide its own slowness (coordinated omission). Messages still unsent when the run
//! ends are counted as missed, never silently dropped.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// `rate` messages per second in all, dealt out to `lanes` senders.
    Paced { rate: f64, lanes: usize },
    /// `lanes` senders, each sending its next message as soon as the last one is answered.
    Closed { lanes: usize },
}

impl Pacing {
    pub fn lanes(self) -> usize {
        match self {
            Pacing::Paced { lanes, .. } | Pacing::Closed { lanes } => lanes,
        }
    }
}

/// One run's timing, shared by its senders.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub pacing: Pacing,
    pub start: Instant,
    pub end: Instant,
}

impl Plan {
    pub fn new(pacing: Pacing, start: Instant, duration: Duration) -> Self {
        Self {
            pacing,
            start,
            end: start + duration,
        }
    }

    /// How many messages the schedule holds (`None` in a closed loop, which has no schedule).
    pub fn scheduled(&self) -> Option<u64> {
        match self.pacing {
            Pacing::Paced { rate, .. } => {
                Some((rate * (self.end - self.start).as_secs_f64()).floor() as u64)
            }
            Pacing::Closed { .. } => None,
        }
    }

    /// The schedule of sender `lane` (0-based, below `pacing.lanes()`).
    pub fn lane(&self, lane: usize) -> Lane {
        Lane {
            plan: *self,
            next_index: lane as u64,
            total: self.scheduled(),
        }
    }
}

/// One sender's share of a [`Plan`].
#[derive(Debug)]
pub struct Lane {
    plan: Plan,
    next_index: u64,
    total: Option<u64>,
}

impl Lane {
    /// When the next message is due (`now` in a closed loop), or `None` when this sender is done:
    /// its share of the schedule is sent, or the run's time is up.
    pub fn next_due(&mut self, now: Instant) -> Option<Instant> {
        if now >= self.plan.end {
            return None;
        }
        match self.plan.pacing {
            Pacing::Closed { .. } => Some(now),
            Pacing::Paced { rate, lanes } => {
                let index = self.next_index;
                if self.total.is_some_and(|total| index >= total) {
                    return None;
                }
                self.next_index += lanes as u64;
                Some(self.plan.start + Duration::from_secs_f64(index as f64 / rate))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_due(plan: &Plan, now: Instant) -> Vec<Vec<Duration>> {
        (0..plan.pacing.lanes())
            .map(|lane| {
                let mut lane = plan.lane(lane);
                std::iter::from_fn(|| lane.next_due(now))
                    .map(|due| due - plan.start)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn paced_messages_are_evenly_spaced_and_dealt_out_in_turn() {
        let start = Instant::now();
        let plan = Plan::new(
            Pacing::Paced {
                rate: 4.0,
                lanes: 3,
            },
            start,
            Duration::from_secs(2),
        );
        assert_eq!(plan.scheduled(), Some(8));
        let ms = Duration::from_millis;
        assert_eq!(
            all_due(&plan, start),
            [
                vec![ms(0), ms(750), ms(1500)],
                vec![ms(250), ms(1000), ms(1750)],
                vec![ms(500), ms(1250)],
            ]
        );
    }

    #[test]
    fn a_late_sender_still_gets_its_due_times_not_the_current_time() {
        let start = Instant::now();
        let plan = Plan::new(
            Pacing::Paced {
                rate: 10.0,
                lanes: 1,
            },
            start,
            Duration::from_secs(1),
        );
        let mut lane = plan.lane(0);
        let late = start + Duration::from_millis(500);
        assert_eq!(lane.next_due(late), Some(start));
        assert_eq!(
            lane.next_due(late),
            Some(start + Duration::from_millis(100))
        );
    }

    #[test]
    fn nothing_is_due_after_the_end_in_either_loop() {
        let start = Instant::now();
        let after = start + Duration::from_secs(2);
        for pacing in [
            Pacing::Closed { lanes: 2 },
            Pacing::Paced {
                rate: 100.0,
                lanes: 2,
            },
        ] {
            let plan = Plan::new(pacing, start, Duration::from_secs(1));
            assert_eq!(plan.lane(0).next_due(after), None);
        }
        let closed = Plan::new(Pacing::Closed { lanes: 1 }, start, Duration::from_secs(1));
        assert_eq!(closed.lane(0).next_due(start), Some(start));
        assert_eq!(closed.scheduled(), None);
    }
}
