"""How people's names are written: Chinese names family name first with no space (李娜),
others "Given Family" (Anna Smith)."""


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def person_name(user) -> str:
    if user is None:
        return ""
    given, family = (user.first_name or "").strip(), (user.last_name or "").strip()
    if not (given or family):
        return user.get_username()
    if has_cjk(given + family):
        return f"{family}{given}"
    return " ".join(p for p in (given, family) if p)
