fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dot = std::fs::read_to_string(&a[1]).unwrap();
    let t = std::time::Instant::now();
    let r = archc::draw::dot_to_svg(&dot);
    eprintln!("{:?}", t.elapsed());
    match r {
        Ok(s) => std::fs::write(&a[2], s).unwrap(),
        Err(e) => eprintln!("ERR {e}"),
    }
}
