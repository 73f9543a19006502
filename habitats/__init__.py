"""Habitat typologies, crosswalks, taxa and map legends."""
