"""A progress bar that shows nothing and yields its iterable unchanged."""


class tqdm:  # noqa: N801 - tqdm's own name
    def __init__(self, iterable=None, *args, total=None, **kwargs):
        self.iterable = iterable
        self.n = 0
        self.total = total if total is not None else _len(iterable)

    def __iter__(self):
        for item in self.iterable if self.iterable is not None else ():
            self.n += 1
            yield item

    def __len__(self):
        return self.total if self.total is not None else 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.n += n

    def set_description(self, *args, **kwargs):
        pass

    set_description_str = set_postfix = set_postfix_str = refresh = reset = clear = set_description

    def close(self):
        pass

    def __getattr__(self, name):  # display(), unpause(), format_dict...: do nothing
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    @classmethod
    def write(cls, s, file=None, end="\n", nolock=False):
        print(s, end=end, file=file)


def _len(iterable):
    try:
        return len(iterable)
    except TypeError:
        return None


def trange(*args, **kwargs):
    return tqdm(range(*args), **kwargs)
