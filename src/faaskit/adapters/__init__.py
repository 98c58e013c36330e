"""Front doors on cloud platforms: each adapter turns a platform's events into calls of the
same gateway and runtime that ``faaskit dev`` serves. Import one by its path
(``faaskit.adapters.aws``); ``import faaskit`` never loads them.
"""
