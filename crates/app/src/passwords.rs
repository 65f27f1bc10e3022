//! Password checks and argon2id hashing, kept off the async runtime.
//!
//! Hashing costs ~19 MiB and tens of milliseconds of CPU by design. It runs on `spawn_blocking`
//! behind a semaphore sized to the CPU count, so a burst of logins queues instead of starving the
//! runtime's threads or allocating unbounded memory.

use crate::AppError;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use domain::user::PasswordHash;
use domain::ValidationError;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A password as typed: 8-128 characters of any Unicode. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ValidationError::new(
                "password",
                format!("must be at least {} characters long", Self::MIN_CHARS),
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "password",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// For login, where any input is checked against the hash and a bad shape is just a mismatch.
    pub fn unchecked(raw: &str) -> Self {
        Self(raw.to_owned())
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Argon2id parameters; the defaults are OWASP's minimum (m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Bounds concurrent hashes (each holds `memory_kib` of RAM) to the number of cores.
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified when the user does not exist, so that an unknown
    /// username costs the same time as a wrong password.
    dummy: Arc<String>,
}

impl PasswordHasher {
    pub fn new(cost: HashCost) -> Result<Self, AppError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AppError::internal("invalid argon2 parameters", e))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| AppError::internal("no randomness", e))?;
        let dummy = hash_blocking(&params, &random)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes into a PHC string that carries its algorithm and parameters, so they can be raised
    /// later while old hashes keep verifying.
    pub async fn hash(&self, password: Password) -> Result<PasswordHash, AppError> {
        let params = self.params.clone();
        let phc = self
            .run_blocking(move || hash_blocking(&params, password.0.as_bytes()))
            .await??;
        Ok(PasswordHash::new(phc))
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) a dummy is checked instead.
    pub async fn verify(
        &self,
        password: Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, AppError> {
        let (phc, real) = match hash {
            Some(hash) => (hash.as_str().to_owned(), true),
            None => (self.dummy.as_str().to_owned(), false),
        };
        let matches = self
            .run_blocking(move || {
                Argon2::default()
                    .verify_password(password.0.as_bytes(), phc.as_str())
                    .is_ok()
            })
            .await?;
        Ok(real && matches)
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AppError::internal("the password hasher is closed", e))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AppError::internal("the password hashing task failed", e))
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, AppError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal("password hashing failed", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse("short").is_err());
        assert_eq!(Password::parse("1234567").unwrap_err().field, "password");
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("пароль12").is_ok());
        assert!(Password::parse(&"🔑".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(!format!("{:?}", Password::unchecked("hunter22")).contains("hunter"));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new(HashCost::default()).unwrap();
        let hash = hasher
            .hash(Password::parse("correct horse").unwrap())
            .await
            .unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(hasher
            .verify(Password::unchecked("correct horse"), Some(&hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Password::unchecked("wrong horse"), Some(&hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(Password::unchecked("correct horse"), None)
            .await
            .unwrap());
    }
}
