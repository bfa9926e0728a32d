//! Capping of command output for the model and the PR. Commands themselves
//! start through the sandbox's [`crate::sandbox::Launcher`].

/// Cuts `text` for the model: keeps the first and last lines within
/// `max_lines` and `max_bytes`, with a marker saying how much was left out.
pub fn cap_head_tail(text: &str, max_lines: usize, max_bytes: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max_lines && text.len() <= max_bytes {
        return text.to_string();
    }
    let head_budget = max_bytes / 2;
    let tail_budget = max_bytes - head_budget;
    let half = max_lines / 2;
    let mut head = Vec::new();
    let mut used = 0;
    for line in lines.iter().take(half) {
        let line = clip(line, head_budget);
        if used + line.len() + 1 > head_budget {
            break;
        }
        used += line.len() + 1;
        head.push(line);
    }
    let mut tail = Vec::new();
    used = 0;
    for line in lines.iter().skip(head.len()).rev().take(max_lines - half) {
        let line = clip(line, tail_budget);
        if used + line.len() + 1 > tail_budget {
            break;
        }
        used += line.len() + 1;
        tail.push(line);
    }
    tail.reverse();
    let omitted = lines.len() - head.len() - tail.len();
    format!(
        "{}\n[… {omitted} lines left out …]\n{}",
        head.join("\n"),
        tail.join("\n")
    )
}

fn clip(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_head_and_tail_with_marker() {
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let capped = cap_head_tail(&text, 10, 10_000);
        assert!(capped.starts_with("line 1\nline 2\n"));
        assert!(capped.contains("[… 90 lines left out …]"));
        assert!(capped.ends_with("line 100"));
        assert_eq!(cap_head_tail("short\n", 10, 100), "short\n");
    }
}
