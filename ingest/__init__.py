"""Raw news in (HTML, scraped text, JSON/CSV records, feeds), chunks in the store out."""
