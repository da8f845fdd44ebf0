//! `archc explain CODE`: one page per diagnostic code, in `explain/CODE.md` (built in by
//! [`crate::diag::Code`]). Each page's first ```arch example must fail with its code (the
//! registry test checks).

use crate::diag::Code;

/// The explain page of a code (`A0301` or `a0301`).
pub fn page(code: &str) -> Option<&'static str> {
    let code = code.trim().to_ascii_uppercase();
    Code::ALL.iter().find(|c| c.as_str() == code)?.page()
}

/// The first ```arch block of a page: an example that fails with the page's code.
pub fn example(page: &str) -> Option<&str> {
    block(page, "arch")
}

/// The first ```yaml block of a page: an IR document that fails with the page's code
/// (the pages of the codes only an IR can have).
pub fn ir_example(page: &str) -> Option<&str> {
    block(page, "yaml")
}

fn block<'a>(page: &'a str, lang: &str) -> Option<&'a str> {
    let fence = format!("```{lang}\n");
    let start = page.find(&fence)? + fence.len();
    let len = page[start..].find("```")?;
    Some(&page[start..start + len])
}
