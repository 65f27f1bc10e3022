//! The decide/evolve pattern every aggregate follows.

/// An aggregate is a consistency boundary whose state is a left fold of its own events.
///
/// `decide` never mutates: it answers with the events a command produces (possibly none, when the
/// command is already satisfied) or a domain error. `evolve` applies one stored event and must accept
/// every event that `decide` has ever produced, because stored events are never rewritten.
pub trait Aggregate: Default + Sized {
    type Command;
    type Event;
    type Error;

    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    fn evolve(self, event: &Self::Event) -> Self;

    /// Rebuilds the state from a stream's history.
    fn from_events<'a, I>(events: I) -> Self
    where
        I: IntoIterator<Item = &'a Self::Event>,
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// Given/when/then checks for aggregates, in the shape of cqrs-es's `TestFramework`.
#[cfg(test)]
pub(crate) mod scenario {
    use super::Aggregate;
    use std::fmt::Debug;

    pub(crate) struct Given<A: Aggregate> {
        state: A,
    }

    pub(crate) fn given<A: Aggregate>(history: &[A::Event]) -> Given<A> {
        Given {
            state: A::from_events(history),
        }
    }

    impl<A> Given<A>
    where
        A: Aggregate,
        A::Event: PartialEq + Debug,
        A::Error: PartialEq + Debug,
    {
        pub(crate) fn when(self, command: A::Command) -> Then<A> {
            Then {
                outcome: self.state.decide(&command),
            }
        }
    }

    pub(crate) struct Then<A: Aggregate> {
        outcome: Result<Vec<A::Event>, A::Error>,
    }

    impl<A> Then<A>
    where
        A: Aggregate,
        A::Event: PartialEq + Debug,
        A::Error: PartialEq + Debug,
    {
        #[track_caller]
        pub(crate) fn then_events(self, expected: Vec<A::Event>) {
            assert_eq!(self.outcome, Ok(expected));
        }

        #[track_caller]
        pub(crate) fn then_error(self, expected: A::Error) {
            assert_eq!(self.outcome, Err(expected));
        }
    }
}
