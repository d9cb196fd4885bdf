"""The Ytung Lab sidebar as browser tests drive it: an accordion whose sections start collapsed
(Overview alone expanded on first load) and whose layout the Lab remembers.

- ``open_sidebar(page)``: show the sidebar if another left panel is shown
- ``only_section(page, label)``: expand section ``label``, collapse the others
- ``expanded_sections(page)``: the labels of the expanded sections
"""

from __future__ import annotations

TITLES = "#ytung-sidebar .lm-AccordionPanel-title"


def open_sidebar(page) -> None:
    page.wait_for_selector("li[data-id='ytung-sidebar']")
    if not page.locator("#ytung-sidebar").is_visible():
        page.click("li[data-id='ytung-sidebar']")


def _label(title) -> str:
    # text_content: inner_text would be upper-cased by the theme's CSS
    return title.locator(".lm-AccordionPanel-titleLabel").text_content().strip()


def expanded_sections(page) -> list[str]:
    titles = page.locator(TITLES)
    return [
        _label(titles.nth(i))
        for i in range(titles.count())
        if titles.nth(i).get_attribute("aria-expanded") == "true"
    ]


def only_section(page, label: str) -> None:
    """Expand the sidebar section ``label`` and collapse the others (they share the height)."""
    titles = page.locator(TITLES)
    titles.first.wait_for()
    names = [_label(titles.nth(i)) for i in range(titles.count())]
    if label not in names:
        raise AssertionError(f"no sidebar section {label!r}: {names}")
    for i, name in enumerate(names):
        title = titles.nth(i)
        expanded = title.get_attribute("aria-expanded") == "true"
        if expanded != (name == label):
            title.click()
