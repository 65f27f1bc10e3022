//! The judgement at the end of a run, from what the clients saw, what the event store holds and
//! what the Telegram bot sent. Pure: the same observations always give the same verdict.
//!
//! Every send is one of
//! - **ok**: acknowledged, stored once, received once by every device of both people;
//! - **lost**: acknowledged (or stored) but missing from the store or from a device;
//! - **duplicated**: stored twice, or received twice by one device;
//! - **unknown**: never acknowledged, and neither stored nor received (a retry budget ran out
//!   while the service was down; allowed).
//!
//! Besides, each device must have received each conversation's messages in `seq` order, and each
//! conversation's stored `seq`s must be dense from 1.

use crate::ledger::{Delivery, Send};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A message as the event store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub conversation: String,
    pub seq: i64,
    pub client_id: String,
}

/// Who is in each conversation, and which devices each person has.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// conversation -> the usernames of its two people
    pub members: HashMap<String, Vec<String>>,
    /// username -> its devices' names
    pub devices: HashMap<String, Vec<String>>,
}

impl Topology {
    /// Every device that must receive the messages of `conversation`.
    pub fn devices_of(&self, conversation: &str) -> Vec<&str> {
        self.members
            .get(conversation)
            .into_iter()
            .flatten()
            .flat_map(|user| self.devices.get(user).into_iter().flatten())
            .map(String::as_str)
            .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub sends: usize,
    pub ok: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub unknown: usize,
    /// Deliveries that arrived after a higher `seq` of the same conversation on the same device.
    pub out_of_order: usize,
    /// Conversations whose stored `seq`s are not exactly 1..=n.
    pub seq_gaps: usize,
    /// Stored messages no client ever sent (must be 0).
    pub strangers: usize,
    /// A few examples of what went wrong, for the report.
    pub examples: Vec<String>,
}

impl Verdict {
    pub fn holds(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.seq_gaps == 0
            && self.strangers == 0
    }

    fn note(&mut self, example: String) {
        if self.examples.len() < 10 {
            self.examples.push(example);
        }
    }
}

pub fn judge(
    sends: &[Send],
    stored: &[Stored],
    deliveries: &HashMap<String, Vec<Delivery>>,
    topology: &Topology,
) -> Verdict {
    let mut verdict = Verdict {
        sends: sends.len(),
        ..Verdict::default()
    };
    let mut stored_count: HashMap<(&str, &str), usize> = HashMap::new();
    for message in stored {
        *stored_count
            .entry((&message.conversation, &message.client_id))
            .or_default() += 1;
    }
    // device -> (conversation, client id) -> times received
    let received: HashMap<&str, HashMap<(&str, &str), usize>> = deliveries
        .iter()
        .map(|(device, list)| {
            let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
            for delivery in list {
                *counts
                    .entry((&delivery.conversation, &delivery.client_id))
                    .or_default() += 1;
            }
            (device.as_str(), counts)
        })
        .collect();

    for send in sends {
        let key = (send.conversation.as_str(), send.client_id.as_str());
        let stored = stored_count.get(&key).copied().unwrap_or(0);
        let counts: Vec<(&str, usize)> = topology
            .devices_of(&send.conversation)
            .into_iter()
            .map(|device| {
                let n = received
                    .get(device)
                    .and_then(|c| c.get(&key))
                    .copied()
                    .unwrap_or(0);
                (device, n)
            })
            .collect();
        let missing: Vec<&str> = counts
            .iter()
            .filter(|(_, n)| *n == 0)
            .map(|(d, _)| *d)
            .collect();
        let doubled = stored > 1 || counts.iter().any(|(_, n)| *n > 1);
        if doubled {
            verdict.duplicated += 1;
            verdict.note(format!(
                "duplicated: {} ({}) stored {stored} times, received {counts:?}",
                send.client_id, send.sender
            ));
        } else if (send.acked.is_some() || stored == 1) && (stored == 0 || !missing.is_empty()) {
            verdict.lost += 1;
            verdict.note(format!(
                "lost: {} ({}, acked {:?}) stored {stored} times, missing on {missing:?}",
                send.client_id,
                send.sender,
                send.acked.map(|(_, seq)| seq)
            ));
        } else if send.acked.is_some() {
            verdict.ok += 1;
        } else if stored == 0 && missing.len() < counts.len() {
            // Received but not stored: a phantom message.
            verdict.lost += 1;
            verdict.note(format!("received but never stored: {}", send.client_id));
        } else {
            verdict.unknown += 1;
        }
    }

    let sent: std::collections::HashSet<(&str, &str)> = sends
        .iter()
        .map(|s| (s.conversation.as_str(), s.client_id.as_str()))
        .collect();
    let mut seqs: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for message in stored {
        seqs.entry(&message.conversation)
            .or_default()
            .push(message.seq);
        if !sent.contains(&(message.conversation.as_str(), message.client_id.as_str())) {
            verdict.strangers += 1;
            verdict.note(format!("stored but never sent: {}", message.client_id));
        }
    }
    for (conversation, mut list) in seqs {
        list.sort_unstable();
        if !list.iter().copied().eq(1..=list.len() as i64) {
            verdict.seq_gaps += 1;
            verdict.note(format!("seqs of {conversation} are not dense"));
        }
    }

    for (device, list) in deliveries {
        let mut last: HashMap<&str, i64> = HashMap::new();
        for delivery in list {
            let previous = last.entry(&delivery.conversation).or_insert(0);
            if delivery.seq <= *previous {
                verdict.out_of_order += 1;
                verdict.note(format!(
                    "{device} received seq {} of {} after {}",
                    delivery.seq, delivery.conversation, previous
                ));
            } else {
                *previous = delivery.seq;
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Via;
    use std::time::Instant;

    fn send(client_id: &str, acked: Option<i64>) -> Send {
        Send {
            sender: "ann".into(),
            conversation: "c".into(),
            client_id: client_id.into(),
            via: Via::Rest,
            started: Instant::now(),
            acked: acked.map(|seq| (Instant::now(), seq)),
            attempts: 1,
        }
    }

    fn stored(seq: i64, client_id: &str) -> Stored {
        Stored {
            conversation: "c".into(),
            seq,
            client_id: client_id.into(),
        }
    }

    fn delivery(seq: i64, client_id: &str) -> Delivery {
        Delivery {
            conversation: "c".into(),
            seq,
            client_id: client_id.into(),
        }
    }

    fn topology() -> Topology {
        Topology {
            members: HashMap::from([("c".into(), vec!["ann".into(), "bob".into()])]),
            devices: HashMap::from([
                ("ann".into(), vec!["ann-1".into()]),
                ("bob".into(), vec!["bob-1".into(), "bob-2".into()]),
            ]),
        }
    }

    fn everywhere(list: &[Delivery]) -> HashMap<String, Vec<Delivery>> {
        ["ann-1", "bob-1", "bob-2"]
            .into_iter()
            .map(|d| (d.to_owned(), list.to_vec()))
            .collect()
    }

    #[test]
    fn a_send_stored_once_and_received_by_every_device_is_ok() {
        let verdict = judge(
            &[send("x", Some(1)), send("y", Some(2))],
            &[stored(1, "x"), stored(2, "y")],
            &everywhere(&[delivery(1, "x"), delivery(2, "y")]),
            &topology(),
        );
        assert_eq!((verdict.ok, verdict.lost, verdict.duplicated), (2, 0, 0));
        assert!(verdict.holds());
    }

    #[test]
    fn an_acknowledged_send_missing_on_one_device_is_lost() {
        let mut deliveries = everywhere(&[delivery(1, "x")]);
        deliveries.insert("bob-2".into(), vec![]);
        let verdict = judge(
            &[send("x", Some(1))],
            &[stored(1, "x")],
            &deliveries,
            &topology(),
        );
        assert_eq!(verdict.lost, 1);
        assert!(!verdict.holds());
    }

    #[test]
    fn an_acknowledged_send_missing_from_the_store_is_lost() {
        let verdict = judge(&[send("x", Some(1))], &[], &HashMap::new(), &topology());
        assert_eq!(verdict.lost, 1);
    }

    #[test]
    fn a_message_stored_twice_or_received_twice_is_duplicated() {
        let twice = judge(
            &[send("x", Some(1))],
            &[stored(1, "x"), stored(2, "x")],
            &everywhere(&[delivery(1, "x")]),
            &topology(),
        );
        assert_eq!(twice.duplicated, 1);
        let mut deliveries = everywhere(&[delivery(1, "x")]);
        deliveries.insert("ann-1".into(), vec![delivery(1, "x"), delivery(1, "x")]);
        let received_twice = judge(
            &[send("x", Some(1))],
            &[stored(1, "x")],
            &deliveries,
            &topology(),
        );
        assert_eq!(received_twice.duplicated, 1);
        assert!(!received_twice.holds());
    }

    #[test]
    fn an_unacknowledged_send_is_unknown_when_nowhere_and_ok_to_store_once_if_delivered() {
        let nowhere = judge(&[send("x", None)], &[], &HashMap::new(), &topology());
        assert_eq!((nowhere.unknown, nowhere.lost), (1, 0));
        assert!(nowhere.holds());
        // Stored although the ack never came back: it must then reach every device.
        let stored_not_delivered = judge(
            &[send("x", None)],
            &[stored(1, "x")],
            &HashMap::new(),
            &topology(),
        );
        assert_eq!(stored_not_delivered.lost, 1);
    }

    #[test]
    fn deliveries_out_of_seq_order_and_gaps_in_stored_seqs_are_found() {
        let verdict = judge(
            &[send("x", Some(1)), send("y", Some(3))],
            &[stored(1, "x"), stored(3, "y")],
            &everywhere(&[delivery(3, "y"), delivery(1, "x")]),
            &topology(),
        );
        assert_eq!((verdict.out_of_order, verdict.seq_gaps), (3, 1));
        assert!(!verdict.holds());
    }
}
