"""Arena's built-in plugins, each registered through the `arena` entry-point group like a third party's."""
