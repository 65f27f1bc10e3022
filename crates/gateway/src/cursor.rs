//! Which durable frames a socket still has to send, by their cursors.
//!
//! Live frames start queueing before a resume's backlog is read, so the queue repeats what the
//! backlog sent: those are skipped. The publisher keeps the bus in the log's order, so a later
//! live frame never has a lower cursor than the last one sent; if one ever does, it is sent anyway
//! (and counted): a client that dedupes by message is better served by a late frame than by a gap
//! it cannot see, since its next resume starts after its highest cursor.

/// What to do with a durable frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Send,
    /// Already sent (by the backlog, or the same event twice from the bus).
    Skip,
    /// Below the last cursor sent but never sent: the bus broke the log's order.
    SendLate,
}

#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Every event up to here was sent by a backlog replay.
    replayed_to: i64,
    /// The highest cursor sent.
    last: i64,
}

impl Sent {
    /// A backlog replay sent everything up to `head`.
    pub(crate) fn replayed(&mut self, head: i64) {
        self.replayed_to = self.replayed_to.max(head);
        self.last = self.last.max(head);
    }

    pub(crate) fn admit(&mut self, cursor: i64) -> Admit {
        if cursor <= self.replayed_to || cursor == self.last {
            Admit::Skip
        } else if cursor < self.last {
            Admit::SendLate
        } else {
            self.last = cursor;
            Admit::Send
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_the_backlog_sent_are_skipped_and_later_ones_sent_once() {
        let mut sent = Sent::default();
        sent.replayed(10);
        let admitted: Vec<Admit> = [8, 10, 11, 11, 12].map(|c| sent.admit(c)).to_vec();
        assert_eq!(
            admitted,
            [
                Admit::Skip,
                Admit::Skip,
                Admit::Send,
                Admit::Skip,
                Admit::Send
            ]
        );
    }

    #[test]
    fn a_frame_out_of_the_logs_order_is_sent_late_not_dropped() {
        let mut sent = Sent::default();
        assert_eq!(sent.admit(5), Admit::Send);
        assert_eq!(sent.admit(7), Admit::Send);
        assert_eq!(sent.admit(6), Admit::SendLate);
        assert_eq!(
            sent.admit(8),
            Admit::Send,
            "the order goes on from the highest"
        );
    }

    #[test]
    fn a_second_resume_moves_the_replayed_bound() {
        let mut sent = Sent::default();
        assert_eq!(sent.admit(3), Admit::Send);
        sent.replayed(9);
        assert_eq!(sent.admit(4), Admit::Skip);
        assert_eq!(sent.admit(10), Admit::Send);
    }
}
