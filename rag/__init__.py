"""newsrag core: types, settings, retrieval and answers with verified citations."""
