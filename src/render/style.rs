//! Colour, decided once per run for stderr, applied only through [`Styles`] fields so that
//! `--color never` cannot leak an escape code.

use std::io::IsTerminal;

use owo_colors::Style;

use crate::cli::ColorChoice;

/// Should stderr be coloured? `--color` wins; for `auto`: a terminal, `NO_COLOR` unset or
/// empty, and `TERM` not `dumb`.
pub fn stderr_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
        }
    }
}

/// Is a spinner welcome on stderr? A terminal, not CI, not dumb.
pub fn stderr_interactive() -> bool {
    std::io::stderr().is_terminal()
        && !is_ci::cached()
        && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Styles {
    pub bold: Style,
    pub dimmed: Style,
    pub red: Style,
    pub green: Style,
    pub yellow: Style,
    pub cyan: Style,
    pub magenta: Style,
}

impl Styles {
    pub fn new(color: bool) -> Self {
        if !color {
            return Styles::default();
        }
        Styles {
            bold: Style::new().bold(),
            dimmed: Style::new().dimmed(),
            red: Style::new().red().bold(),
            green: Style::new().green(),
            yellow: Style::new().yellow(),
            cyan: Style::new().cyan(),
            magenta: Style::new().magenta(),
        }
    }
}
