//! A partner's request budget and what happens over it.

use std::fmt;

/// A partner's request budget: `count` token requests per fixed window of one second, minute,
/// hour or day (`50/s`, `100000/d`), as the admin writes it on `client create/update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: u32,
    per: Per,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Second,
    Minute,
    Hour,
    Day,
}

impl Per {
    pub fn secs(self) -> i64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    pub fn from_secs(secs: i64) -> Option<Self> {
        [Self::Second, Self::Minute, Self::Hour, Self::Day]
            .into_iter()
            .find(|p| p.secs() == secs)
    }

    fn letter(self) -> char {
        match self {
            Self::Second => 's',
            Self::Minute => 'm',
            Self::Hour => 'h',
            Self::Day => 'd',
        }
    }
}

impl Rate {
    /// The largest count accepted: far above any real partner, small enough for every counter.
    pub const MAX: u32 = 1_000_000_000;

    /// `N/s`, `N/m`, `N/h` or `N/d`, N a whole number from 1 to `MAX` in plain digits.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let shape =
            "expected a whole number of requests per s, m, h or d, such as 50/s or 100000/d";
        let (count, unit) = raw
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{raw:?}: {shape}"))?;
        let per = match unit {
            "s" => Per::Second,
            "m" => Per::Minute,
            "h" => Per::Hour,
            "d" => Per::Day,
            _ => return Err(format!("{raw:?}: the unit must be s, m, h or d ({shape})")),
        };
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{raw:?}: {shape}"));
        }
        let count = count
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= Self::MAX)
            .ok_or_else(|| format!("{raw:?}: at most {} requests per window", Self::MAX))?;
        if count == 0 {
            return Err(format!(
                "{raw:?}: a limit of 0 would refuse every request; disable the client instead"
            ));
        }
        Ok(Self { count, per })
    }

    /// From stored columns; `None` when they do not make a rate.
    pub fn from_parts(count: i64, window_secs: i64) -> Option<Self> {
        let count = u32::try_from(count)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))?;
        Some(Self {
            count,
            per: Per::from_secs(window_secs)?,
        })
    }

    pub fn count(self) -> u32 {
        self.count
    }

    pub fn per(self) -> Per {
        self.per
    }

    /// The window's length in seconds.
    pub fn window_secs(self) -> i64 {
        self.per.secs()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per.letter())
    }
}

/// What a client over its rate limit or quota meets: refusal, or only a count and a log line
/// (to learn a partner's real traffic before enforcing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuotaMode {
    #[default]
    Enforce,
    Observe,
}

impl QuotaMode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "enforce" => Ok(Self::Enforce),
            "observe" => Ok(Self::Observe),
            _ => Err(format!("{raw:?}: the quota mode is enforce or observe")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Observe => "observe",
        }
    }
}
