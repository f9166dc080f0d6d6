//! The band's screen and button: the only user interface the user can trust.
use alloc::{collections::VecDeque, string::String, vec::Vec};
use core::{fmt::Debug, time::Duration};

use wearpay_pay::{Description, MerchantId, MerchantName, Mode, Money, Order, OrderId, Pin, confirm_text};

use crate::{Error, PaymentOutcome};

/// What became of the wait for the press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Approval {
    /// The user pressed the button.
    Pressed,
    /// The user declined (the other button, or a long press).
    Declined,
    /// Nobody pressed in time.
    TimedOut,
}

/// What the band shows before the press: the center's copy of the order, never the phone's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderScreen {
    /// The merchant's name.
    pub merchant_name: MerchantName,
    /// The merchant's id.
    pub merchant_id: MerchantId,
    /// The order.
    pub order_id: OrderId,
    /// The amount with its currency.
    pub money: Money,
    /// What is bought (may be empty).
    pub description: Description,
    /// The payment mode the press approves.
    pub mode: Mode,
    /// The text on the screen: `confirm_text(order)`, which confirm mode signs byte for byte.
    pub text: String,
}

impl OrderScreen {
    /// The screen for paying `order` in `mode`.
    pub fn new(order: &Order, mode: Mode) -> Self {
        Self {
            merchant_name: order.merchant_name.clone(),
            merchant_id: order.merchant_id.clone(),
            order_id: order.order_id.clone(),
            money: order.money(),
            description: order.description.clone(),
            mode,
            text: String::from(confirm_text(order).as_str()),
        }
    }
}

/// The band's user interface.
pub trait UserInterface: Debug {
    /// Shows the order and waits up to `timeout` for the press.
    fn confirm(&mut self, screen: &OrderScreen, timeout: Duration) -> Result<Approval, Error>;

    /// Reads a PIN on the band itself (`prompt` says what for). The PIN never passes
    /// through the phone in clear and is never logged.
    fn read_pin(&mut self, prompt: &str) -> Result<Pin, Error>;

    /// Shows a one-line message.
    fn message(&mut self, text: &str);

    /// Shows what became of a payment.
    fn outcome(&mut self, outcome: &PaymentOutcome);
}

/// One scripted answer.
#[derive(Clone, PartialEq, Eq)]
pub enum Scripted {
    /// The answer to the next wait for the press.
    Press(Approval),
    /// The digits typed at the next PIN prompt.
    Pin(String),
}

impl Debug for Scripted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Press(a) => write!(f, "Press({a:?})"),
            Self::Pin(_) => f.write_str("Pin(<redacted>)"),
        }
    }
}

/// A user interface that answers from a queue and records what the band showed.
#[derive(Debug, Default)]
pub struct ScriptedUi {
    answers: VecDeque<Scripted>,
    /// Every order screen shown, in order.
    pub screens: Vec<OrderScreen>,
    /// Every PIN prompt shown.
    pub pin_prompts: Vec<String>,
    /// Every message shown.
    pub messages: Vec<String>,
    /// Every outcome shown.
    pub outcomes: Vec<PaymentOutcome>,
}

impl ScriptedUi {
    /// A user who will give `answers`, in order.
    pub fn new(answers: impl IntoIterator<Item = Scripted>) -> Self {
        Self { answers: answers.into_iter().collect(), ..Self::default() }
    }

    /// Queues more answers.
    pub fn push(&mut self, answer: Scripted) {
        self.answers.push_back(answer);
    }

    /// How many answers are left unused.
    pub fn remaining(&self) -> usize {
        self.answers.len()
    }
}

impl UserInterface for ScriptedUi {
    fn confirm(&mut self, screen: &OrderScreen, _timeout: Duration) -> Result<Approval, Error> {
        self.screens.push(screen.clone());
        match self.answers.pop_front() {
            Some(Scripted::Press(a)) => Ok(a),
            Some(Scripted::Pin(_)) => Err(Error::Ui("the script has a PIN where a press was expected")),
            // Nobody there: the wait runs out.
            None => Ok(Approval::TimedOut),
        }
    }

    fn read_pin(&mut self, prompt: &str) -> Result<Pin, Error> {
        self.pin_prompts.push(String::from(prompt));
        match self.answers.pop_front() {
            Some(Scripted::Pin(digits)) => Ok(Pin::new(&digits)?),
            Some(Scripted::Press(_)) => Err(Error::Ui("the script has a press where a PIN was expected")),
            None => Err(Error::Ui("no PIN was entered")),
        }
    }

    fn message(&mut self, text: &str) {
        self.messages.push(String::from(text));
    }

    fn outcome(&mut self, outcome: &PaymentOutcome) {
        self.outcomes.push(outcome.clone());
    }
}

#[cfg(feature = "std")]
pub use console::ConsoleUi;

#[cfg(feature = "std")]
mod console {
    use alloc::{format, string::String};
    use core::time::Duration;
    use std::io::{BufRead, Write};
    use std::sync::mpsc;

    use wearpay_pay::{Outcome, Pin};

    use super::{Approval, OrderScreen, UserInterface};
    use crate::{Error, PaymentOutcome};

    /// A console user interface: the screen is standard error, the button and the keypad
    /// are lines on standard input (`y` to pay, `n` to decline).
    ///
    /// A PIN is read from its own line and never written anywhere; on an interactive
    /// terminal the terminal itself still echoes what is typed, so the simulator should be
    /// fed its PIN from a pipe where that matters.
    #[derive(Debug)]
    pub struct ConsoleUi {
        lines: mpsc::Receiver<String>,
    }

    impl Default for ConsoleUi {
        fn default() -> Self {
            Self::new()
        }
    }

    impl ConsoleUi {
        /// A console user interface on this process's standard input and error.
        pub fn new() -> Self {
            // A reader thread lets the wait for the press time out.
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Self { lines: rx }
        }

        fn say(&self, text: &str) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{text}");
            let _ = err.flush();
        }
    }

    impl UserInterface for ConsoleUi {
        fn confirm(&mut self, screen: &OrderScreen, timeout: Duration) -> Result<Approval, Error> {
            self.say("------------------------------------------------");
            self.say(&screen.text);
            self.say(&format!("Mode: {}", screen.mode));
            self.say(&format!("Press y to pay, n to decline ({} s)", timeout.as_secs()));
            match self.lines.recv_timeout(timeout) {
                Ok(line) if line.trim().eq_ignore_ascii_case("y") => Ok(Approval::Pressed),
                Ok(_) => Ok(Approval::Declined),
                Err(mpsc::RecvTimeoutError::Timeout) => Ok(Approval::TimedOut),
                Err(mpsc::RecvTimeoutError::Disconnected) => Ok(Approval::Declined),
            }
        }

        fn read_pin(&mut self, prompt: &str) -> Result<Pin, Error> {
            self.say(prompt);
            let line = zeroize::Zeroizing::new(self.lines.recv().map_err(|_| Error::Ui("no PIN was entered"))?);
            Ok(Pin::new(line.trim())?)
        }

        fn message(&mut self, text: &str) {
            self.say(text);
        }

        fn outcome(&mut self, outcome: &PaymentOutcome) {
            let text = match outcome.outcome {
                Outcome::Approved => format!("Paid {} (transaction {})", outcome.money, outcome.tx_id),
                Outcome::Declined(reason) => format!("Declined: {} ({})", reason.meaning(), reason),
            };
            self.say(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::format;

    #[test]
    fn a_script_answers_in_order_and_never_shows_a_pin() {
        let mut ui = ScriptedUi::new([Scripted::Press(Approval::Declined), Scripted::Pin("1234".into())]);
        assert_eq!(format!("{:?}", Scripted::Pin("987654".into())), "Pin(<redacted>)");
        assert!(!format!("{ui:?}").contains("1234"));
        let order = wearpay_pay::Order {
            order_id: OrderId::new("O").unwrap(),
            merchant_id: MerchantId::new("M").unwrap(),
            merchant_name: MerchantName::new("Shop").unwrap(),
            amount: wearpay_pay::Amount::from_minor(1).unwrap(),
            currency: wearpay_pay::Currency::CNY,
            description: Description::new("").unwrap(),
            expires_at: wearpay_pay::Timestamp(1),
        };
        let screen = OrderScreen::new(&order, Mode::Quick);
        assert_eq!(ui.confirm(&screen, Duration::from_secs(1)).unwrap(), Approval::Declined);
        assert_eq!(ui.read_pin("PIN?").unwrap().digit_count(), 4);
        // Out of answers: the press times out, a PIN is an error.
        assert_eq!(ui.confirm(&screen, Duration::from_secs(1)).unwrap(), Approval::TimedOut);
        assert!(matches!(ui.read_pin("PIN?"), Err(Error::Ui(_))));
        assert_eq!(ui.screens.len(), 2);
        assert_eq!(ui.pin_prompts, ["PIN?", "PIN?"]);
        // The PIN itself is nowhere in what was recorded.
        assert!(!format!("{ui:?}").contains("1234"));
    }
}
