//! `archc explain CODE`: one page per diagnostic code, in `explain/CODE.md`. Each page's
//! first ```arch example must fail with its code (the registry test checks).

macro_rules! pages {
    ($($code:literal),* $(,)?) => {
        /// (code, page) for every code that has a page.
        pub const PAGES: &[(&str, &str)] = &[$(($code, include_str!(concat!("explain/", $code, ".md")))),*];
    };
}

pages!(
    "A0001", "A0002", "A0003", "A0004", "A0005", "A0006", "A0007", "A0008", "A0101", "A0102",
    "A0103", "A0104", "A0105", "A0106", "A0107", "A0108", "A0109", "A0110", "A0111", "A0112",
    "A0113", "A0114", "A0201", "A0202", "A0203", "A0204", "A0205", "A0206", "A0207", "A0301",
    "A0302", "A0303", "A0304", "A0305", "A0306", "A0401", "A0402", "A0403", "A0404", "A0405",
    "A0406", "A0407", "A0501", "A0502", "A0503", "A0504", "A0505", "A0601", "A0602", "A0603",
    "A0701", "A0702", "A0801", "A0802",
);

/// The explain page of a code (`A0301` or `a0301`).
pub fn page(code: &str) -> Option<&'static str> {
    let code = code.trim().to_ascii_uppercase();
    PAGES.iter().find(|(c, _)| *c == code).map(|(_, p)| *p)
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
