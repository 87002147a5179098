"""Slack's text as each reader needs it: the report's markdown, GitHub's, partners' plain text."""

import pytest

from bot.postmortems.mrkdwn import Mrkdwn, no_headings, quoted, to_github, to_partner, unescape

# As Slack sends what people typed: `&`, `<`, `>` escaped, every `<` left opening a token.
ASK = "Ask <@UBOB|bob> about <https://example.org/q?a=1&amp;b=2|the quota> &amp; more"
TYPED = "Fish &amp; chips &lt;b&gt; &amp;lt; &amp;amp;"


def test_unescape_undoes_slacks_three_escapes_and_nothing_else():
    assert unescape(TYPED) == "Fish & chips <b> &lt; &amp;"
    # Entities Slack never writes are text someone typed.
    assert unescape("&quot;x&quot; &#39; &copy") == "&quot;x&quot; &#39; &copy"


@pytest.mark.parametrize(
    ("text", "links", "expected"),
    [
        (ASK, True, "Ask bob about [the quota](https://example.org/q?a=1&b=2) & more"),
        (ASK, False, "Ask bob about the quota & more"),
        (TYPED, True, "Fish & chips <b> &lt; &amp;"),
        (
            "<https://x.org> and <mailto:a@b.org|mail>",
            True,
            "<https://x.org> and [mail](mailto:a@b.org)",
        ),
        ("<https://x.org> and <mailto:a@b.org|mail>", False, "https://x.org and mail"),
        ("<@U1> <@W12|@ada> in <#C1|inc-x> <#C2>", True, "U1 ada in #inc-x #C2"),
        ("<!here> <!subteam^S1|@sre> <!date^1392734382^{date}|Feb 18>", True, "here sre Feb 18"),
        ("&lt;@U1&gt; typed", True, "<@U1> typed"),
    ],
)
def test_to_github(text: str, links: bool, expected: str):
    assert to_github(text, links=links) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ASK, "Ask an engineer about the quota & more"),
        (TYPED, "Fish & chips <b> &lt; &amp;"),
        (
            "<!here> Fixed by <@U123ABC|ada>, see <https://example.org/pr/1|the fix>\x01.",
            "Fixed by an engineer, see the fix.",
        ),
        ("<https://example.org> and\ttabs\nkept", "https://example.org and\ttabs\nkept"),
        ("in <#C1|inc-secret> and <#C2>", "in a Slack channel and a Slack channel"),
        ("<!here> Deploy <!channel> now <!subteam^S1|@sre>", "Deploy now "),
        ("at <!date^1392734382^{date}|Feb 18, 2014>", "at Feb 18, 2014"),
        ("bell\x07 and \x1b[31mred\x7f", "bell and [31mred"),
        # What a person typed is never taken for a token once unescaped.
        ("&lt;@U1|ada&gt; &lt;!here&gt;", "<@U1|ada> <!here>"),
    ],
)
def test_to_partner(text: str, expected: str):
    assert to_partner(text) == expected


def test_markdown_writes_people_by_name_and_keeps_escapes_for_markdown():
    md = Mrkdwn({"UBOB": "Bob Builder"})
    assert md(ASK) == (
        "Ask Bob Builder about [the quota](https://example.org/q?a=1&amp;b=2) &amp; more"
    )
    assert md("<@UX> saw https://x.org/a.") == "@UX saw <https://x.org/a>."
    assert md(TYPED) == TYPED  # markdown reads these entities as the characters


def test_no_line_becomes_a_heading():
    text = "# a\n  ## b\n    # code\n#no\nx\n---\n= =\n===  \r\ny"
    assert no_headings(text) == "\\# a\n  \\## b\n    # code\n#no\nx\n\\---\n= =\n\\===  \ny"
    assert quoted("one\n\n## two") == "> one\n>\n> \\## two"
