package chunk

// Realistic sources, one per syntax-aware language, shared by the tests.
var samples = []struct {
	lang, path, src string
}{
	{"go", "cache.go", `// Copyright 2024 The Authors.

// Package cache is a small LRU cache.
package cache

import (
	"container/list"
	"errors"
	"sync"
)

// ErrMiss is returned for a missing key.
var ErrMiss = errors.New("cache: miss")

const (
	DefaultSize = 128
	MaxSize     = 1 << 20
)

// Cache is an LRU cache, safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	ll    *list.List
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns a cache holding up to n items.
func New[K comparable, V any](n int) *Cache[K, V] {
	return &Cache[K, V]{ll: list.New(), items: make(map[K]*list.Element, n)}
}

// Get returns the value for key.
func (c *Cache[K, V]) Get(key K) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*entry[K, V]).val, nil
	}
	var zero V
	return zero, ErrMiss
}

// A free comment, not a doc comment.

func (c *Cache[K, V]) Len() int { return c.ll.Len() }
`},
	{"python", "greeter.py", `"""Module docstring."""
import os
import sys

CONSTANT = 42


def helper(x):
    """Return x doubled."""
    return x * 2


@decorator
@other(arg=1)
def decorated(a, b):
    return a + b


class Greeter(Base):
    """Greets people."""

    greeting = "hello"

    def __init__(self, name):
        self.name = name

    # Comment attached to greet.
    def greet(self):
        print(f"{self.greeting}, {self.name}")
        for i in range(10):
            print(i)
        return True

    @staticmethod
    def make():
        return Greeter("x")


if __name__ == "__main__":
    g = Greeter("world")
    g.greet()
`},
	{"typescript", "users.ts", `import { Request, Response } from "express";
import * as path from "path";

/** A user record. */
export interface User {
  id: number;
  name: string;
  email?: string;
}

export type UserId = User["id"];

export enum Role {
  Admin = "admin",
  Member = "member",
}

// Formats a user for display.
export const formatUser = (u: User): string => {
  return ` + "`" + `${u.name} <${u.email ?? "none"}>` + "`" + `;
};

export class UserService {
  private users = new Map<UserId, User>();

  constructor(private readonly root: string) {}

  get(id: UserId): User | undefined {
    return this.users.get(id);
  }

  @logged
  async save(u: User): Promise<void> {
    this.users.set(u.id, u);
    await writeFile(path.join(this.root, ` + "`" + `${u.id}.json` + "`" + `), JSON.stringify(u));
  }
}

export default function handler(req: Request, res: Response) {
  res.json({ ok: true });
}
`},
	{"tsx", "Button.tsx", `import React, { useState } from "react";

type Props = { label: string; onClick?: () => void };

export function Button({ label, onClick }: Props) {
  const [count, setCount] = useState(0);
  return (
    <button onClick={() => { setCount(count + 1); onClick?.(); }}>
      {label} ({count})
    </button>
  );
}

export const Row = ({ children }: { children: React.ReactNode }) => <div className="row">{children}</div>;
`},
	{"javascript", "server.js", `'use strict';
const http = require("http");

/**
 * Handles one request.
 */
async function handle(req, res) {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("ok");
}

const router = {
  "/": handle,
};

class Server extends EventEmitter {
  static defaults = { port: 8080 };

  constructor(opts) {
    super();
    this.opts = { ...Server.defaults, ...opts };
  }

  listen() {
    return http.createServer(handle).listen(this.opts.port);
  }
}

const double = (x) => x * 2;

module.exports = { Server, double };
`},
	{"java", "Store.java", `package com.example.store;

import java.util.HashMap;
import java.util.Map;

/**
 * An in-memory key-value store.
 */
public class Store<K, V> implements AutoCloseable {
    private final Map<K, V> items = new HashMap<>();
    private boolean closed;

    public Store() {
    }

    /** Returns the value for key, or null. */
    public V get(K key) {
        checkOpen();
        return items.get(key);
    }

    @Override
    public void close() {
        closed = true;
        items.clear();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("closed");
        }
    }

    enum Mode { READ, WRITE }
}

interface Visitor<K> {
    void visit(K key);
}
`},
	{"rust", "shapes.rs", `//! Shapes and areas.
use std::fmt;

/// A point in the plane.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

pub trait Shape {
    fn area(&self) -> f64;
    fn name(&self) -> &str {
        "shape"
    }
}

impl Point {
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }

    pub fn dist(&self, o: &Point) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

fn main() {
    let p = Point::new(1.0, 2.0);
    println!("{}", p);
}
`},
	{"c", "buf.c", `#include <stdio.h>
#include <stdlib.h>

/* A growable buffer. */
struct buf {
    char *data;
    size_t len, cap;
};

static int grow(struct buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    b->cap = (b->len + n) * 2;
    b->data = realloc(b->data, b->cap);
    return b->data ? 0 : -1;
}

/* Appends s to b. */
int buf_append(struct buf *b, const char *s, size_t n)
{
    if (grow(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

int main(void)
{
    struct buf b = {0};
    buf_append(&b, "hi", 2);
    printf("%zu\n", b.len);
    return 0;
}
`},
	{"cpp", "polygon.cpp", `#include <string>
#include <vector>

namespace geo {

// A polygon of points.
class Polygon {
 public:
  explicit Polygon(std::vector<double> xs) : xs_(std::move(xs)) {}

  double Perimeter() const {
    double p = 0;
    for (double x : xs_) p += x;
    return p;
  }

  size_t Size() const { return xs_.size(); }

 private:
  std::vector<double> xs_;
};

template <typename T>
T Max(T a, T b) {
  return a > b ? a : b;
}

}  // namespace geo

int main() {
  geo::Polygon p({1, 2, 3});
  return p.Size();
}
`},
	{"markdown", "README.md", `---
title: Demo
---

Intro paragraph before any heading.

# Project

Some words about the project.

## Install

Use the installer.

### From source

` + "`" + `` + "`" + `` + "`" + `sh
# not a heading
make install
` + "`" + `` + "`" + `` + "`" + `

### Binary
Download it.

Usage
-----

Run ` + "`" + `demo --help` + "`" + `.

~~~
## also not a heading
~~~

# Appendix
The end.
`},
}
